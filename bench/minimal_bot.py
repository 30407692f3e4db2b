"""Baseline B: a minimal aiogram + openai chat bot (`python bench/minimal_bot.py`).

One `AsyncOpenAI` client for the whole process (the default httpx transport, or with
`--aiohttp` the SDK's aiohttp transport, as this bot uses); per text message one
streamed chat completion, accumulated, then one `message.answer`.
Reads BOT_TOKEN, TELEGRAM_API_URL, OPENAI_API_KEY and OPENAI_BASE_URL.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from openai import AsyncOpenAI, DefaultAioHttpClient

MODEL = "gpt-4o-mini"

dispatcher = Dispatcher()
client = AsyncOpenAI(
    base_url=os.environ["OPENAI_BASE_URL"],
    api_key=os.environ["OPENAI_API_KEY"],
    http_client=DefaultAioHttpClient() if "--aiohttp" in sys.argv else None,
)


@dispatcher.message()
async def ask(message: Message) -> None:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": message.text or ""}],
        stream=True,
    )
    parts: list[str] = []
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
    await message.answer("".join(parts) or "…")


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    await dispatcher.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
