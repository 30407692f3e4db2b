"""Admin texts of any length: several messages when long, a panel screen kept whole.

Every admin list and report goes out through here, so none is ever cut inside a tag
or loses its totals past Telegram's 4096 characters.
"""

from __future__ import annotations

import asyncio

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from edge.editing import show
from services.chat.formatting import Screen, split_lines

RETRIES = 3  # sends of one part that Telegram asks to wait for


async def send_long(
    bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Send `text` split at line breaks; the buttons go under the last part."""
    parts = split_lines(text)
    for index, part in enumerate(parts):
        await _send(bot, chat_id, part, markup if index == len(parts) - 1 else None)


async def show_screen(
    query: CallbackQuery, bot: Bot, screen: Screen, markup: InlineKeyboardMarkup
) -> None:
    """The screen in place of the pressed message, with its buttons; what did not fit
    follows as messages."""
    await show(query, bot, screen.text, markup)
    for part in screen.rest:
        await _send(bot, query.from_user.id, part, None)


async def _send(bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """One part; a burst of parts may meet Telegram's per-chat limit: wait as told."""
    for attempt in range(RETRIES):
        try:
            await bot.send_message(chat_id, text, reply_markup=markup)
            return
        except TelegramRetryAfter as error:
            if attempt == RETRIES - 1:
                raise
            await asyncio.sleep(error.retry_after)
