"""Changing messages the bot already sent: Telegram's harmless answers handled in one place."""

from __future__ import annotations

import contextlib

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Message

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def is_not_modified(error: TelegramBadRequest) -> bool:
    """The edit asked for what the message already shows: nothing to do."""
    return "message is not modified" in error.message


async def edit_text(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    preview: bool = True,
) -> None:
    """Edit a message's text; "not modified" is success, other errors are raised."""
    try:
        await bot.edit_message_text(
            text=text,
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=markup,
            link_preview_options=None if preview else NO_PREVIEW,
        )
    except TelegramBadRequest as error:
        if not is_not_modified(error):
            raise


async def show(
    query: CallbackQuery,
    bot: Bot,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    preview: bool = True,
    below: bool = False,
) -> None:
    """Show `text` in place of the pressed message, or as a new one if it cannot be edited
    (or, `below`, should stay as it is: a notice, not a menu)."""
    message = query.message
    if isinstance(message, Message) and message.text and not below:
        try:
            await edit_text(bot, message.chat.id, message.message_id, text, markup, preview=preview)
            return
        except TelegramBadRequest:
            pass  # too old, deleted, or not text: send anew
    await bot.send_message(
        query.from_user.id,
        text,
        reply_markup=markup,
        link_preview_options=None if preview else NO_PREVIEW,
    )


async def remove_buttons(query: CallbackQuery) -> None:
    """Take the buttons off the pressed message (they no longer apply)."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
