"""Show a growing model answer in Telegram, at a per-chat safe pace.

Private chats: the answer streams as a draft (`sendMessageDraft`, Bot API 9.5+), a
temporary preview with Telegram's own stop button, and the final text goes out with
`sendMessage`. Groups, and Bot API servers without drafts (older or local ones: the
first "method not found" switches the whole process to this): send once, then edit.
Either way the chat gets at most one update per `edit_interval`, and a 429 pauses the
chat for its `retry_after`. What the server has shown is kept in a `StreamPacing`, one
per dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import secrets
import time
from collections.abc import Callable

from aiogram import Bot
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message, ReplyParameters

from edge.editing import is_not_modified
from services.chat.formatting import (
    TELEGRAM_TEXT_LIMIT,
    markdown_to_html,
    split_html,
    split_plain,
    utf16_length,
)
from services.shared.pacing import SharedPacing

logger = logging.getLogger(__name__)

TYPING_DELAY = 0.3  # show "typing" only if the first words take longer than this
# The first words are shown this long after they arrive (unless the answer is over by
# then: a fast answer stays one sendMessage), not held until the next piece comes.
FIRST_WORDS_DELAY = 0.3
TYPING_REPEAT = 4.5  # Telegram shows a chat action for about 5 seconds
FINAL_SEND_ATTEMPTS = 4
# A draft is a preview Telegram shows for about 30 s: shown again if the answer pauses.
DRAFT_REFRESH = 20.0
DRAFT_ID_LIMIT = 2**31 - 1  # draft ids are non-zero; stay within a 32-bit integer


def _open_fence(markdown: str) -> str:
    """The opening line of a code block still open at the end of `markdown` ("" if none)."""
    fence = ""
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            fence = "" if fence else line.strip()
    return fence


class StreamPacing:
    """What this bot's Bot API server has shown, shared by every answer of one
    dispatcher (created with it): whether it has drafts, the chats Telegram asked to
    wait (429), and the draft each chat's answer streams now. With `shared`, a 429 is
    every process's (services.shared.pacing); the rest is this process's own: drafts
    (a stale "yes" costs one refused draft, then this process knows) and the live drafts
    (a stop pressed on another process's draft is passed on: `stop_draft`)."""

    def __init__(self, shared: SharedPacing | None = None) -> None:
        self.drafts = True  # False once the server answered that it has no sendMessageDraft
        self._paused_until: dict[int, float] = {}  # chat -> end of its 429
        self.streaming: dict[int, list[int]] = {}  # chat -> the live answer's draft ids
        self._shared = shared
        self._telling: set[asyncio.Task[None]] = set()
        # Told the chat whose live draft Telegram's stop ended (the answer is stopped).
        self.on_draft_stop: Callable[[int], object] | None = None
        if shared is not None:
            shared.heard_pause = self._pause_here
            shared.heard_draft_stop = self._draft_stopped_here

    def is_streaming_draft(self, chat_id: int, draft_id: int) -> bool:
        """Whether `draft_id` belongs to the answer being written in the chat now (a stop
        pressed on an older draft must not end the next answer)."""
        return draft_id in self.streaming.get(chat_id, ())

    async def stop_draft(self, chat_id: int, draft_id: int) -> None:
        """Telegram's stop on a draft: the answer streaming it ends, on this process or
        (with Redis) the one that streams it."""
        if self.is_streaming_draft(chat_id, draft_id):
            self._draft_stopped_here(chat_id, draft_id)
        elif self._shared is not None:
            await self._shared.stop_draft(chat_id, draft_id)

    def _draft_stopped_here(self, chat_id: int, draft_id: int) -> None:
        if self.is_streaming_draft(chat_id, draft_id) and self.on_draft_stop is not None:
            self.on_draft_stop(chat_id)

    def pause(self, chat_id: int, seconds: float) -> None:
        """Telegram answered 429: nothing more to this chat for `seconds` (any answer, on
        any process)."""
        self._pause_here(chat_id, seconds)
        logger.info("Telegram asks to wait %s s in chat %s", seconds, chat_id)
        if self._shared is not None:
            task = asyncio.get_running_loop().create_task(self._shared.pause(chat_id, seconds))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    def _pause_here(self, chat_id: int, seconds: float) -> None:
        now = time.monotonic()
        paused = self._paused_until
        for chat in [chat for chat, until in paused.items() if until <= now]:
            del paused[chat]  # pauses that are over
        paused[chat_id] = max(paused.get(chat_id, 0.0), now + seconds)

    async def catch_up(self, chat_id: int) -> None:
        """Before an answer: a pause another process got in this chat (while this one
        was not listening) applies here too."""
        if self._shared is not None:
            left = await self._shared.left(chat_id)
            if left > 0:
                self._pause_here(chat_id, left)

    def pause_left(self, chat_id: int) -> float:
        return max(0.0, self._paused_until.get(chat_id, 0.0) - time.monotonic())


def drafts_unsupported(error: TelegramAPIError) -> bool:
    """The server does not know sendMessageDraft (an older or a local Bot API server)."""
    if isinstance(error, TelegramNotFound):  # "Not Found: method not found"
        return True
    text = error.message.lower()
    return "method" in text and any(
        word in text for word in ("not found", "unknown", "not supported", "unsupported")
    )


class StreamingReply:
    """Collects answer pieces and mirrors them into Telegram as they grow.

    The first words are shown FIRST_WORDS_DELAY after they arrive (a fast answer, over
    by then, costs a single sendMessage). After that the chat gets one update per
    interval: a new draft (private chats) or an edit of the message (elsewhere). An
    answer longer than one message continues in new messages: with drafts, each full
    part becomes a message of its own and the draft goes on with the rest. `finish`
    sends what is not sent yet with sendMessage (and Retry under the last message).
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        pacing: StreamPacing,
        edit_interval: float,
        streaming_markup: InlineKeyboardMarkup | None = None,
        final_markup: InlineKeyboardMarkup | None = None,
        drafts: bool = True,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._thread_id = thread_id  # a forum topic
        self._reply_to = reply_to  # in groups: the question the answer belongs to
        self._interval = edit_interval
        self._pacing = pacing
        # Buttons under the last message: while streaming (Stop), and at the end (Retry).
        self._markups = (streaming_markup, final_markup)
        self._chunks: list[str] = []
        self._message_ids: list[int] = []
        self._shown: list[tuple[str, InlineKeyboardMarkup | None]] = []  # per message
        self._plain = False  # Telegram rejected our HTML once: plain text from then on
        self._next_flush = time.monotonic() + edit_interval
        self._typing_stopped = False
        self._closed = False
        self._first_words: asyncio.Task[None] | None = None
        self._first_words_showing = False
        self._typing_task: asyncio.Task[None] | None = None
        self._typing_timer = asyncio.get_running_loop().call_later(TYPING_DELAY, self._start_typing)
        # Drafts: only private chats (a user's chat id is positive) have them.
        self._drafting = drafts and chat_id > 0 and self._pacing.drafts
        self._draft_ids: list[int] = []  # one per message part; Telegram's stop names one
        self._draft_text: str | None = None  # what the current draft shows
        self._draft_sent_at = 0.0
        self._draft_lock = asyncio.Lock()
        self._draft_keeper: asyncio.Task[None] | None = None
        # With drafts, a full part of a long answer is sent while the rest is written:
        self._committed = 0  # messages holding such parts (their text never changes)
        self._frozen = 0  # characters of the answer they hold
        self._carry = ""  # Markdown that reopens a code block cut between two messages
        if self._drafting:
            self._new_draft()
            self._pacing.streaming[chat_id] = self._draft_ids

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    @property
    def last_message_id(self) -> int | None:
        """The message that carries the buttons, once something was sent."""
        return self._message_ids[-1] if self._message_ids else None

    @property
    def draft_id(self) -> int | None:
        """The draft being streamed now (None: this answer streams with edits)."""
        return self._draft_ids[-1] if self._drafting else None

    # The answer sink (services.chat.answer.AnswerSink) ---------------------------------
    async def add_text(self, delta: str) -> None:
        """Take a new piece of the answer; updates the chat when it is time."""
        self._chunks.append(delta)
        if time.monotonic() >= self._next_flush and not self._pause_left():
            await self._flush(final=False)
        elif self._first_words is None:
            self._first_words = asyncio.create_task(self._show_first_words())

    async def _show_first_words(self) -> None:
        await asyncio.sleep(FIRST_WORDS_DELAY)
        if self._closed or self._shown or self._draft_text is not None or self._pause_left():
            return  # over, or shown already by a later piece
        self._first_words_showing = True
        try:
            await self._flush(final=False)
        finally:
            self._first_words_showing = False

    async def add_image(self, data: bytes, mime_type: str) -> None:
        """A picture of the answer: sent at once, as a photo of its own."""
        await self._wait_pause()
        self._stop_typing()
        photo = BufferedInputFile(data, f"image.{mime_type.rpartition('/')[2]}")
        await self._bot.send_photo(
            self._chat_id, photo, message_thread_id=self._thread_id, reply_parameters=self._reply()
        )

    async def add_audio(self, data: bytes, mime_type: str) -> None:
        """A sound of the answer: sent at once, as an audio file of its own."""
        await self._wait_pause()
        self._stop_typing()
        audio = BufferedInputFile(data, f"audio.{mime_type.rpartition('/')[2]}")
        await self._bot.send_audio(
            self._chat_id, audio, message_thread_id=self._thread_id, reply_parameters=self._reply()
        )

    async def finish(self, suffix: str = "") -> None:
        """Show the whole answer (plus an optional plain-text suffix) for good."""
        self.close()
        await self._first_words_shown()
        await self._wait_pause()
        await self._flush(final=True, suffix=suffix)

    async def replace_with(self, text_html: str) -> None:
        """Show only `text_html` (an error message), reusing a message already sent."""
        self.close()
        await self._first_words_shown()
        self._chunks = []
        self._plain = False
        await self._wait_pause()
        await self._show([text_html], final=True)

    def close(self) -> None:
        """The answer is over: no more typing or drafts (the final text still goes out)."""
        self._closed = True
        if self._first_words is not None and not self._first_words_showing:
            self._first_words.cancel()  # still waiting: nothing to show early any more
        self._stop_typing()
        self._end_drafts()

    async def _first_words_shown(self) -> None:
        """Let an early showing of the first words that is on its way land first."""
        if self._first_words is not None:
            await asyncio.gather(self._first_words, return_exceptions=True)

    def _render(self, suffix: str) -> list[str]:
        """The answer's messages: those sent already with a finished part, then the rest."""
        rest = self._carry + self.text[self._frozen :]
        if self._plain:
            parts = split_plain(rest + suffix)
        else:
            parts = split_html(markdown_to_html(rest) + html.escape(suffix, quote=False))
        committed = [text for text, _ in self._shown[: self._committed]]
        return committed + [part for part in parts if part.strip()]

    def _render_one(self, markdown: str) -> str:
        return markdown.strip() if self._plain else markdown_to_html(markdown)

    async def _flush(self, *, final: bool, suffix: str = "") -> None:
        self._next_flush = time.monotonic() + self._interval
        if not self.text.strip() and not suffix:
            return
        try:
            await self._update(self._render(suffix), final=final)
        except TelegramBadRequest as error:
            if "can't parse entities" not in error.message or self._plain:
                raise
            logger.warning("Telegram rejected rendered HTML, resending as plain text: %s", error)
            self._plain = True
            await self._update(self._render(suffix), final=final)

    async def _update(self, parts: list[str], *, final: bool) -> None:
        if self._drafting and not final:
            await self._stream_draft(parts)
        if final or not self._drafting:  # (also when drafts just turned out to be missing)
            await self._show(parts, final=final)

    # Drafts -----------------------------------------------------------------------------
    async def _stream_draft(self, parts: list[str]) -> None:
        """One step of draft streaming: the draft shows the part being written, or, once
        that outgrows a message, its start becomes a message and the draft goes on."""
        rest = parts[self._committed :]
        if len(rest) > 1 and self._committed == len(self._message_ids):
            await self._commit()
        elif len(rest) == 1:
            await self._send_draft(rest[0])

    async def _commit(self) -> None:
        """Send the start of the unsent answer as a message whose text stays as it is."""
        rest = self._carry + self.text[self._frozen :]
        cut, part = self._cut(rest)
        try:
            await self._send_or_edit(self._committed, part, None, retry=False)
        except TelegramRetryAfter as error:
            self._pause(error.retry_after)
            return
        self._frozen += cut - len(self._carry)
        fence = "" if self._plain else _open_fence(rest[:cut])
        self._carry = fence + "\n" if fence else ""
        self._committed += 1
        self._new_draft()  # the message took the draft's place: the rest is a new draft

    def _cut(self, markdown: str) -> tuple[int, str]:
        """The longest start of `markdown` that makes one message, ending at a paragraph,
        else a line, else a line of code, else a word: (its length, the message)."""
        start = len(self._carry) + 1  # never just the reopened code block
        kinds: list[list[int]] = [[], [], [], []]  # paragraph, line, code line, word ends
        position, in_code = 0, False
        for line in markdown.splitlines(keepends=True):
            if line.strip().startswith("```"):
                in_code = not in_code
            position += len(line)
            if position >= start and line.endswith("\n"):
                kinds[2 if in_code else 0 if not line.strip() else 1].append(position)
        kinds[3] = [i + 1 for i, char in enumerate(markdown) if char == " " and i + 1 >= start]
        best: tuple[int, str] | None = None
        for ends in [*kinds, list(range(start, len(markdown)))]:
            found = self._longest_fitting(markdown, ends)
            if found is None:
                continue
            if best is None or utf16_length(found[1]) > utf16_length(best[1]):
                best = found
            if utf16_length(best[1]) >= TELEGRAM_TEXT_LIMIT // 2:
                break
        if best is None:  # cannot happen with real text: a message of one character fits
            return len(markdown), self._render_one(markdown)
        return best

    def _longest_fitting(self, markdown: str, ends: list[int]) -> tuple[int, str] | None:
        low, high = 0, len(ends) - 1
        found: tuple[int, str] | None = None
        while low <= high:  # the rendered length grows with the end: bisect
            middle = (low + high) // 2
            part = self._render_one(markdown[: ends[middle]])
            if utf16_length(part) <= TELEGRAM_TEXT_LIMIT:
                if part.strip():
                    found = (ends[middle], part)
                low = middle + 1
            else:
                high = middle - 1
        return found

    async def _send_draft(self, text: str, *, again: bool = False) -> None:
        if text == self._draft_text and not again:
            return
        async with self._draft_lock:
            self._draft_sent_at = time.monotonic()
            try:
                await self._bot.send_message_draft(
                    chat_id=self._chat_id,
                    draft_id=self._draft_ids[-1],
                    text=text,
                    parse_mode=None if self._plain else ParseMode.HTML,
                    can_stop=True,  # Telegram's stop button: a stopped_message_generation update
                    keep_on_stop=True,  # the partial draft stays until the final message
                )
            except TelegramRetryAfter as error:
                self._pause(error.retry_after)
                return
            except (TelegramNetworkError, TelegramServerError) as error:
                logger.debug("Draft not shown in chat %s (%s)", self._chat_id, error)
                return  # a preview only: the next one shows the answer again
            except (TelegramBadRequest, TelegramNotFound) as error:
                if "can't parse entities" in error.message:
                    raise
                self._give_up_drafts(error)
                return
        self._draft_text = text
        self._stop_typing()  # the draft shows that the answer is being written
        if self._draft_keeper is None:
            self._draft_keeper = asyncio.create_task(self._keep_draft())

    def _give_up_drafts(self, error: TelegramAPIError) -> None:
        self._drafting = False
        self._end_drafts()
        if drafts_unsupported(error):
            if self._pacing.drafts:
                logger.warning(
                    "The Bot API server has no sendMessageDraft (%s): answers stream with "
                    "edits from now on",
                    error.message,
                )
            self._pacing.drafts = False
        else:
            logger.warning(
                "Draft refused in chat %s (%s): this answer streams with edits",
                self._chat_id,
                error.message,
            )

    def _end_drafts(self) -> None:
        if self._draft_keeper is not None:
            if self._draft_keeper is not asyncio.current_task():
                self._draft_keeper.cancel()
            self._draft_keeper = None
        if self._pacing.streaming.get(self._chat_id) is self._draft_ids:
            del self._pacing.streaming[self._chat_id]

    def _new_draft(self) -> None:
        self._draft_ids.append(secrets.randbelow(DRAFT_ID_LIMIT) + 1)
        self._draft_text = None

    async def _keep_draft(self) -> None:
        """Show the draft again while the answer pauses longer than a draft lasts."""
        with contextlib.suppress(TelegramAPIError):
            while self._drafting:
                now = time.monotonic()
                wait = max(self._draft_sent_at + DRAFT_REFRESH, self._next_flush) - now
                wait = max(wait, self._pause_left())
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                if self._draft_text is None:  # a part just became a message: wait for more
                    self._draft_sent_at = now
                    continue
                self._next_flush = now + self._interval
                await self._send_draft(self._draft_text, again=True)

    # Edits ------------------------------------------------------------------------------
    async def _show(self, parts: list[str], *, final: bool) -> None:
        if not parts:
            return
        buttons = self._markups[1] if final else self._markups[0]
        for index, part in enumerate(parts):
            markup = buttons if index == len(parts) - 1 else None
            if index < len(self._shown) and self._shown[index] == (part, markup):
                continue
            try:
                await self._send_or_edit(index, part, markup, retry=final)
            except TelegramRetryAfter as error:
                # While streaming, skip this edit and wait as Telegram asks.
                self._pause(error.retry_after)
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
                    message = await self._send(part, parse_mode, markup)
                    self._message_ids.append(message.message_id)
                    self._stop_typing()
                self._store_shown(index, (part, markup))
                return
            except (TelegramRetryAfter, TelegramNetworkError) as error:
                if isinstance(error, TelegramRetryAfter):
                    self._pause(error.retry_after)
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
                message = await self._send(part, parse_mode, markup)
                self._message_ids[self._message_ids.index(message_id)] = message.message_id
                return
            raise

    async def _send(
        self, part: str, parse_mode: ParseMode | None, markup: InlineKeyboardMarkup | None
    ) -> Message:
        """A new message of the answer: in its topic, the first one replying to the question."""
        return await self._bot.send_message(
            self._chat_id,
            part,
            parse_mode=parse_mode,
            reply_markup=markup,
            message_thread_id=self._thread_id,
            reply_parameters=self._reply(),
        )

    def _reply(self) -> ReplyParameters | None:
        """In groups, the answer's first message replies to the question."""
        if self._reply_to is None or self._message_ids:
            return None
        return ReplyParameters(message_id=self._reply_to, allow_sending_without_reply=True)

    def _store_shown(self, index: int, part: tuple[str, InlineKeyboardMarkup | None]) -> None:
        if index < len(self._shown):
            self._shown[index] = part
        else:
            self._shown.append(part)

    # The chat's pace ----------------------------------------------------------------------
    def _pause(self, seconds: float) -> None:
        self._pacing.pause(self._chat_id, seconds)

    def _pause_left(self) -> float:
        return self._pacing.pause_left(self._chat_id)

    async def _wait_pause(self) -> None:
        left = self._pause_left()
        if left:
            await asyncio.sleep(left)

    # Typing -----------------------------------------------------------------------------
    def _start_typing(self) -> None:
        if not self._message_ids and not self._typing_stopped:
            self._typing_task = asyncio.create_task(self._keep_typing())

    async def _keep_typing(self) -> None:
        with contextlib.suppress(Exception):
            while not self._message_ids and not self._typing_stopped:
                await self._bot.send_chat_action(
                    self._chat_id, ChatAction.TYPING, message_thread_id=self._thread_id
                )
                await asyncio.sleep(TYPING_REPEAT)

    def _stop_typing(self) -> None:
        self._typing_stopped = True
        self._typing_timer.cancel()
        if self._typing_task is not None:
            self._typing_task.cancel()
            self._typing_task = None
