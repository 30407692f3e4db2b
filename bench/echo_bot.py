"""Baseline A: a bare aiogram 3 echo bot (`python bench/echo_bot.py`).

Reads BOT_TOKEN and TELEGRAM_API_URL like the real bot; one handler answers every
text message with the same text. Default long polling (updates handled as tasks).
"""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

dispatcher = Dispatcher()


@dispatcher.message()
async def echo(message: Message) -> None:
    await message.answer(message.text or "?")


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    await dispatcher.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
