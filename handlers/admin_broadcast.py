"""/broadcast: preview, confirm, paced sending with live progress, stop, resume."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import AdminBroadcast
from services.broadcast import Broadcast, BroadcastService, RetryLaterError, SendOutcome
from services.users import UsersService
from texts import Texts, get_texts

logger = logging.getLogger(__name__)
router = Router(name=__name__)  # included under the admin-only router (handlers/__init__.py)


class BroadcastDraft(StatesGroup):
    content = State()


class BroadcastRunner:
    """Runs broadcasts as background tasks and shows their progress to the admin."""

    def __init__(self, service: BroadcastService, users: UsersService) -> None:
        self._bot: Bot | None = None
        self._service = service
        self._users = users
        self._tasks: dict[str, asyncio.Task[Broadcast]] = {}

    def attach(self, bot: Bot) -> None:
        self._bot = bot

    @property
    def bot(self) -> Bot:
        assert self._bot is not None, "attach() the bot at start-up"
        return self._bot

    @property
    def running_id(self) -> str | None:
        return next(iter(self._tasks), None)

    def start(self, broadcast: Broadcast) -> None:
        task = asyncio.create_task(self._run(broadcast), name=f"broadcast-{broadcast.id}")
        self._tasks[broadcast.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(broadcast.id, None))

    async def resume_unfinished(self) -> None:
        for broadcast in await self._service.unfinished():
            logger.info("Resuming broadcast %s", broadcast.id)
            with contextlib.suppress(TelegramAPIError):
                await self.bot.send_message(
                    broadcast.created_by,
                    get_texts("ru")("admin_broadcast_resumed", broadcast_id=broadcast.id),
                )
            self.start(broadcast)

    async def stop(self, grace: float = 5.0) -> None:
        """At shutdown: finish the sends in flight, then stop; the next start resumes."""
        self._service.stop_all()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=grace)
        for task in stuck:
            task.cancel()
        for task in stuck:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, broadcast: Broadcast) -> Broadcast:
        recipients = await self._users.broadcast_recipients()
        return await self._service.run(broadcast, recipients, self._send, self._progress)

    async def _send(self, broadcast: Broadcast, user_id: int) -> SendOutcome:
        try:
            if broadcast.text is not None:
                await self.bot.send_message(user_id, broadcast.text)
            else:
                assert broadcast.from_chat_id is not None and broadcast.message_id is not None
                await self.bot.copy_message(user_id, broadcast.from_chat_id, broadcast.message_id)
        except TelegramRetryAfter as error:
            raise RetryLaterError(error.retry_after) from error
        except TelegramForbiddenError:
            await self._users.mark_blocked(user_id)
            return "blocked"
        except TelegramAPIError as error:
            logger.info("Broadcast %s to %s failed: %s", broadcast.id, user_id, error)
            return "failed"
        return "delivered"

    async def _progress(self, broadcast: Broadcast) -> None:
        texts = get_texts("ru")
        key = {
            "done": "admin_broadcast_done",
            "cancelled": "admin_broadcast_cancelled",
        }.get(broadcast.status, "admin_broadcast_progress")
        text = texts(
            key,
            broadcast_id=broadcast.id,
            processed=broadcast.processed,
            total=broadcast.total,
            delivered=broadcast.delivered,
            blocked=broadcast.blocked,
            failed=broadcast.failed,
            skipped=broadcast.skipped,
        )
        markup = _stop_keyboard(broadcast.id, texts) if broadcast.status == "running" else None
        chat_id = broadcast.status_chat_id or broadcast.created_by
        if broadcast.status_message_id is None:
            message = await self.bot.send_message(chat_id, text, reply_markup=markup)
            broadcast.status_chat_id, broadcast.status_message_id = chat_id, message.message_id
            await self._service.save(broadcast)
            return
        try:
            await self.bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=broadcast.status_message_id,
                reply_markup=markup,
            )
        except TelegramBadRequest as error:
            if "message is not modified" not in error.message:
                raise
        except TelegramRetryAfter:
            pass  # progress is best effort; the next update will show it


def _stop_keyboard(broadcast_id: str, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_stop"),
        callback_data=AdminBroadcast(action="stop", broadcast_id=broadcast_id),
    )
    return builder.as_markup()


def _confirm_keyboard(broadcast_id: str, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_send"),
        callback_data=AdminBroadcast(action="send", broadcast_id=broadcast_id),
    )
    builder.button(
        text=texts("btn_cancel"),
        callback_data=AdminBroadcast(action="drop", broadcast_id=broadcast_id),
    )
    return builder.as_markup()


@router.message(Command("broadcast"))
async def broadcast_command(
    message: Message,
    command: CommandObject,
    texts: Texts,
    broadcasts: BroadcastService,
    broadcast_runner: BroadcastRunner,
    users: UsersService,
    state: FSMContext,
) -> None:
    """/broadcast TEXT, /broadcast as a reply to a message, or bare /broadcast."""
    if broadcast_runner.running_id:
        await message.answer(
            texts("admin_broadcast_busy", broadcast_id=broadcast_runner.running_id)
        )
        return
    admin_id = message.chat.id
    if message.reply_to_message is not None:
        draft = await broadcasts.create(
            admin_id, from_chat_id=admin_id, message_id=message.reply_to_message.message_id
        )
    elif command.args:
        html = message.html_text.split(maxsplit=1)[1] if message.html_text else command.args
        draft = await broadcasts.create(admin_id, text=html)
    else:
        await state.set_state(BroadcastDraft.content)
        await message.answer(texts("admin_broadcast_ask"))
        return
    await _preview(message.bot, draft, texts, users)  # type: ignore[arg-type]


@router.message(StateFilter(BroadcastDraft.content), ~F.text.startswith("/"))
async def broadcast_content(
    message: Message,
    bot: Bot,
    texts: Texts,
    broadcasts: BroadcastService,
    users: UsersService,
    state: FSMContext,
) -> None:
    """The message sent after bare /broadcast: it is what will be copied."""
    await state.clear()
    draft = await broadcasts.create(
        message.chat.id, from_chat_id=message.chat.id, message_id=message.message_id
    )
    await _preview(bot, draft, texts, users)


async def _preview(bot: Bot, draft: Broadcast, texts: Texts, users: UsersService) -> None:
    if draft.text is not None:
        await bot.send_message(draft.created_by, draft.text)
    else:
        assert draft.from_chat_id is not None and draft.message_id is not None
        await bot.copy_message(draft.created_by, draft.from_chat_id, draft.message_id)
    count = len(await users.broadcast_recipients())
    await bot.send_message(
        draft.created_by,
        texts("admin_broadcast_preview", count=count),
        reply_markup=_confirm_keyboard(draft.id, texts),
    )


@router.callback_query(AdminBroadcast.filter())
async def broadcast_button(
    query: CallbackQuery,
    callback_data: AdminBroadcast,
    texts: Texts,
    broadcasts: BroadcastService,
    broadcast_runner: BroadcastRunner,
) -> None:
    """Send / Cancel under a preview, Stop under the progress message."""
    # Check-and-set before the first await: two presses handled at once decide once.
    if callback_data.action in ("send", "drop") and not broadcasts.claim(
        callback_data.broadcast_id
    ):
        await query.answer(texts("admin_broadcast_taken"))
        return
    await query.answer()
    broadcast = await broadcasts.get(callback_data.broadcast_id)
    if broadcast is None:
        return
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.action == "send" and broadcast.status == "draft":
        if broadcast_runner.running_id:
            broadcasts.release(broadcast.id)  # nothing decided: Send may be pressed later
            await query.message.answer(  # type: ignore[union-attr]
                texts("admin_broadcast_busy", broadcast_id=broadcast_runner.running_id)
            )
            return
        broadcast.status = "running"
        await broadcasts.save(broadcast)
        broadcast_runner.start(broadcast)
    elif callback_data.action == "drop" and broadcast.status == "draft":
        broadcast.status = "cancelled"
        await broadcasts.save(broadcast)
        await query.message.answer(texts("admin_cancelled"))  # type: ignore[union-attr]
    elif callback_data.action == "stop":
        broadcasts.cancel(broadcast.id)
