"""Show a growing model answer in Telegram: send once, then edit at a per-chat safe pace."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time

from aiogram import Bot
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup

from handlers.editing import is_not_modified
from services.formatting import markdown_to_html, split_html, split_plain

logger = logging.getLogger(__name__)

TYPING_DELAY = 0.3  # show "typing" only if the first words take longer than this
TYPING_REPEAT = 4.5  # Telegram shows a chat action for about 5 seconds
FINAL_SEND_ATTEMPTS = 4


class StreamingReply:
    """Collects answer pieces and mirrors them into one or more Telegram messages.

    Nothing is sent before `edit_interval` has passed, so a fast answer costs a
    single sendMessage. After that the message is edited at most once per
    interval; an answer longer than one message continues in new messages.
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        edit_interval: float,
        streaming_markup: InlineKeyboardMarkup | None = None,
        final_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._interval = edit_interval
        # Buttons under the last message: while streaming (Stop), and at the end (Retry).
        self._markups = (streaming_markup, final_markup)
        self._chunks: list[str] = []
        self._message_ids: list[int] = []
        self._shown: list[tuple[str, InlineKeyboardMarkup | None]] = []  # per message
        self._plain = False  # Telegram rejected our HTML once: plain text from then on
        self._next_flush = time.monotonic() + edit_interval
        self._typing_stopped = False
        self._typing_task: asyncio.Task[None] | None = None
        self._typing_timer = asyncio.get_running_loop().call_later(TYPING_DELAY, self._start_typing)

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    @property
    def last_message_id(self) -> int | None:
        """The message that carries the buttons, once something was sent."""
        return self._message_ids[-1] if self._message_ids else None

    async def add(self, delta: str) -> None:
        """Take a new piece of the answer; edits the messages when it is time."""
        self._chunks.append(delta)
        if time.monotonic() >= self._next_flush:
            await self._flush(final=False)

    async def finish(self, suffix: str = "") -> None:
        """Show the whole answer (plus an optional plain-text suffix) for good."""
        self._stop_typing()
        await self._flush(final=True, suffix=suffix)

    async def replace_with(self, text_html: str) -> None:
        """Show only `text_html` (an error message), reusing a message already sent."""
        self._stop_typing()
        self._chunks = []
        self._plain = False
        await self._show([text_html], final=True)

    def close(self) -> None:
        self._stop_typing()

    def _render(self, suffix: str) -> list[str]:
        if self._plain:
            return split_plain(self.text + suffix)
        return split_html(markdown_to_html(self.text) + html.escape(suffix, quote=False))

    async def _flush(self, *, final: bool, suffix: str = "") -> None:
        self._next_flush = time.monotonic() + self._interval
        if not self.text.strip() and not suffix:
            return
        parts = self._render(suffix)
        try:
            await self._show(parts, final=final)
        except TelegramBadRequest as error:
            if "can't parse entities" not in error.message or self._plain:
                raise
            logger.warning("Telegram rejected rendered HTML, resending as plain text: %s", error)
            self._plain = True
            await self._show(self._render(suffix), final=final)

    async def _show(self, parts: list[str], *, final: bool) -> None:
        buttons = self._markups[1] if final else self._markups[0]
        for index, part in enumerate(parts):
            markup = buttons if index == len(parts) - 1 else None
            if index < len(self._shown) and self._shown[index] == (part, markup):
                continue
            try:
                await self._send_or_edit(index, part, markup, retry=final)
            except TelegramRetryAfter as error:
                # While streaming, skip this edit and wait as Telegram asks.
                self._next_flush = time.monotonic() + error.retry_after
                return
        if final:  # the answer may now fit in fewer messages than were streamed
            for message_id in self._message_ids[len(parts) :]:
                with contextlib.suppress(TelegramBadRequest):
                    await self._bot.delete_message(self._chat_id, message_id)
            del self._message_ids[len(parts) :]
            del self._shown[len(parts) :]

    async def _send_or_edit(
        self, index: int, part: str, markup: InlineKeyboardMarkup | None, *, retry: bool
    ) -> None:
        parse_mode = None if self._plain else ParseMode.HTML
        for attempt in range(1, FINAL_SEND_ATTEMPTS + 1):
            try:
                if index < len(self._message_ids):
                    await self._edit(self._message_ids[index], part, parse_mode, markup)
                else:
                    message = await self._bot.send_message(
                        self._chat_id, part, parse_mode=parse_mode, reply_markup=markup
                    )
                    self._message_ids.append(message.message_id)
                    self._stop_typing()
                self._store_shown(index, (part, markup))
                return
            except (TelegramRetryAfter, TelegramNetworkError) as error:
                if not retry or attempt == FINAL_SEND_ATTEMPTS:
                    raise
                delay = error.retry_after if isinstance(error, TelegramRetryAfter) else attempt
                await asyncio.sleep(delay)

    async def _edit(
        self,
        message_id: int,
        part: str,
        parse_mode: ParseMode | None,
        markup: InlineKeyboardMarkup | None,
    ) -> None:
        try:
            await self._bot.edit_message_text(
                text=part,
                chat_id=self._chat_id,
                message_id=message_id,
                parse_mode=parse_mode,
                reply_markup=markup,
            )
        except TelegramBadRequest as error:
            if is_not_modified(error):
                return
            if "message to edit not found" in error.message:
                message = await self._bot.send_message(
                    self._chat_id, part, parse_mode=parse_mode, reply_markup=markup
                )
                self._message_ids[self._message_ids.index(message_id)] = message.message_id
                return
            raise

    def _store_shown(self, index: int, part: tuple[str, InlineKeyboardMarkup | None]) -> None:
        if index < len(self._shown):
            self._shown[index] = part
        else:
            self._shown.append(part)

    def _start_typing(self) -> None:
        if not self._message_ids and not self._typing_stopped:
            self._typing_task = asyncio.create_task(self._keep_typing())

    async def _keep_typing(self) -> None:
        with contextlib.suppress(Exception):
            while not self._message_ids and not self._typing_stopped:
                await self._bot.send_chat_action(self._chat_id, ChatAction.TYPING)
                await asyncio.sleep(TYPING_REPEAT)

    def _stop_typing(self) -> None:
        self._typing_stopped = True
        self._typing_timer.cancel()
        if self._typing_task is not None:
            self._typing_task.cancel()
            self._typing_task = None
