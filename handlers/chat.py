"""Plain messages go to the user's model; this router is the catch-all, registered last."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.types import (
    CallbackQuery,
    Message,
    MessageGenerationStopped,
    ReplyParameters,
    TelegramObject,
)

from config import Settings
from edge.callbacks import AnswerAct, AnswerControl
from edge.editing import remove_buttons
from edge.keyboards import answer_keyboard, plans_button
from edge.middlewares import Turn
from edge.streaming import StreamingReply, is_streaming_draft
from services.catalog import Catalog
from services.chat.chat import ChatRefusalError, ChatResult, ChatService
from services.chat.inbox import Offer, Request
from services.models import UserRecord
from services.users import UsersService
from texts import Texts, format_moment

router = Router(name=__name__)

# ProviderError.kind -> the text the user gets; anything else gets "error_generic".
ERROR_TEXTS = {
    "timeout": "error_timeout",
    "rate_limited": "error_rate_limited",
    "cut": "error_cut",
    "unavailable": "error_unavailable",
    "region_blocked": "error_region_blocked",
}
router.message.filter(F.chat.type == "private")


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, texts: Texts) -> None:
    """A command no router knows (admin commands included, for non-admins)."""
    await message.answer(texts("unknown_command"))


@dataclass(slots=True, frozen=True)
class Answering:
    """What answering a user needs, gathered once per update."""

    bot: Bot
    texts: Texts
    chat: ChatService
    users: UsersService
    catalog: Catalog
    edit_interval: float
    zone: ZoneInfo


class ProvideAnswering(BaseMiddleware):
    """Hands the chat's handlers `answering`, gathered from the update's data."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        settings: Settings = data["settings"]
        data["answering"] = Answering(
            data["bot"],
            data["texts"],
            data["chat"],
            data["users"],
            data["catalog"],
            data["edit_interval"],
            settings.zone,
        )
        return await handler(event, data)


router.callback_query.middleware(ProvideAnswering())


@router.message(F.text)
async def ask_model(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    users: UsersService,
    catalog: Catalog,
    settings: Settings,
    edit_interval: float,
    turn: Turn,
) -> None:
    """Any text: stream the model's answer into the chat. Messages sent meanwhile wait,
    in order, and are answered together right after (this handler answers them). The
    hottest path: its dependencies come as parameters, not through a middleware."""
    await turn.wait()  # a burst is queued in the order it was sent
    answering = Answering(bot, texts, chat, users, catalog, edit_interval, settings.zone)
    await submit(answering, message, user, message.text or "", turn)


async def submit(
    deps: Answering, message: Message, user: UserRecord, request: Request | str, turn: Turn
) -> None:
    """A request (typed, heard in a voice message, read from a file, or a picture) joins
    the user's queue once its turn has come: answered now, or right after the answer
    being written."""
    request = Request(request) if isinstance(request, str) else request
    offer = deps.chat.inbox.offer(user.id, request)
    turn.passed()
    if offer is Offer.FULL:  # said once per overflow; Offer.DROPPED is quiet
        await message.answer(deps.texts("queue_full", limit=deps.chat.inbox.limit))
        return
    if offer is Offer.START:
        first = await deps.chat.inbox.first_request(user.id, request)
        await _work(deps, message.chat.id, user, first)


async def _work(deps: Answering, chat_id: int, user: UserRecord, request: Request | None) -> None:
    """Answer `request`, then whatever queued up meanwhile, until nothing waits."""
    try:
        while request is not None:
            current = await deps.users.get(user.id) or user  # the model may have changed
            await _answer(deps, chat_id, current, request)
            request = deps.chat.inbox.next_request(user.id)
    finally:
        deps.chat.inbox.release(user.id)


async def _answer(deps: Answering, chat_id: int, user: UserRecord, request: Request) -> None:
    """One request: refusal, streamed answer (Stop under it, then Retry), or the provider's
    error explained (with Retry)."""
    texts = deps.texts
    reply = StreamingReply(
        deps.bot,
        chat_id,
        edit_interval=deps.edit_interval,
        streaming_markup=answer_keyboard(AnswerAct.STOP, texts),
        final_markup=answer_keyboard(AnswerAct.RETRY, texts),
    )
    try:
        result = await deps.chat.answer(user, request, reply.add)
    except ChatRefusalError as refusal:
        text = refusal_text(refusal, texts, deps.catalog, len(request.text), deps.zone)
        await send_refusal(deps.bot, chat_id, refusal, text, texts)
        return
    finally:
        reply.close()
    await show_result(reply, result, texts)
    if reply.last_message_id is not None:
        deps.chat.last_answer[user.id] = (chat_id, reply.last_message_id)


async def send_refusal(
    bot: Bot,
    chat_id: int,
    refusal: ChatRefusalError,
    text: str,
    texts: Texts,
    *,
    reply_to: int | None = None,
    thread_id: int | None = None,
) -> None:
    """Why a request was not sent to the model, with the plans where they would help."""
    helps = refusal.reason in ("locked", "too_long") or refusal.reason.startswith("quota_free")
    await bot.send_message(
        chat_id,
        text,
        reply_markup=plans_button(texts) if helps else None,
        message_thread_id=thread_id,
        reply_parameters=ReplyParameters(message_id=reply_to) if reply_to else None,
    )


async def show_result(reply: StreamingReply, result: ChatResult, texts: Texts) -> None:
    """The answer's final form: whole, stopped, cut, empty, or the provider's error."""
    if result.cancelled:
        if reply.text:
            await reply.finish(texts("answer_cancelled"))
        else:
            await reply.replace_with(texts("cancel_done"))
    elif result.error is None:
        if result.text.strip():
            await reply.finish()
        else:
            await reply.replace_with(texts("empty_answer"))
    elif result.error == "cut" and reply.text.strip():
        await reply.finish(texts("answer_cut"))
    else:
        key = ERROR_TEXTS.get(result.error, "error_generic")
        await reply.replace_with(texts(key, model=result.model.name))


@router.callback_query(AnswerControl.filter(F.action == AnswerAct.STOP))
async def stop_answer(
    query: CallbackQuery, user: UserRecord, texts: Texts, chat: ChatService
) -> None:
    """Stop under an answer being written: the provider's stream is closed at once."""
    stopped = chat.cancel(user.id)
    await query.answer(texts("stop_done" if stopped else "stop_nothing"))
    if not stopped:
        await remove_buttons(query)


@router.stopped_message_generation()
async def stop_draft(event: MessageGenerationStopped, bot: Bot, chat: ChatService) -> None:
    """Telegram's stop button on an answer streamed as a draft: ends it as Stop does. The
    update names no user; a private chat's id is its user's id."""
    if event.chat.type == "private" and is_streaming_draft(bot, event.chat.id, event.draft_id):
        chat.cancel(event.chat.id)


@router.callback_query(AnswerControl.filter(F.action == AnswerAct.RETRY))
async def retry_answer(query: CallbackQuery, user: UserRecord, answering: Answering) -> None:
    """Retry under an answer or an error: the last request again; its new answer replaces
    the old one in the memory. Only the latest answer can be retried: an older one's
    button is taken away when pressed (removing it at every new answer would cost a
    Telegram call per answer)."""
    texts, chat = answering.texts, answering.chat
    message = query.message
    where = (message.chat.id, message.message_id) if message else None
    if where is None or chat.last_answer.get(user.id) != where:
        await query.answer(texts("retry_not_last"))
        await remove_buttons(query)
        return
    if not chat.inbox.claim(user.id):  # an answer is being written
        await query.answer(texts("retry_busy"))
        return
    request = await chat.take_retry(user.id)
    if request is None:
        chat.inbox.release(user.id)
        await query.answer(texts("retry_nothing"))
        await remove_buttons(query)
        return
    await query.answer()
    await remove_buttons(query)
    await _work(answering, where[0], user, request)


@router.message()
async def not_text(message: Message, texts: Texts) -> None:
    """Stickers, photos...: say what is understood (the media router takes files and,
    when the catalog has `[transcription]`, voice)."""
    await message.answer(texts("only_text"))


def refusal_text(
    refusal: ChatRefusalError, texts: Texts, catalog: Catalog, length: int, zone: ZoneInfo
) -> str:
    model = refusal.model
    if refusal.reason == "locked":
        plans = ", ".join(plan.name for plan in catalog.plans_with_model(model.key))
        return texts("model_locked", model=model.name, plans=plans)
    if refusal.reason == "too_long":
        return texts("too_long", length=length, limit=refusal.limit)
    if refusal.reason == "too_long_for_model":
        return texts("too_long_for_model", model=model.name, length=length, limit=refusal.limit)
    if refusal.reason == "blind":
        seeing = ", ".join(m.name for m in catalog.models if m.vision)
        return texts("model_blind", model=model.name, models=seeing)
    if refusal.reason == "unavailable":
        return texts("model_unavailable", model=model.name)
    if refusal.reason.startswith("quota_"):
        resets = format_moment(refusal.resets_at or 0.0, zone)
        return texts(refusal.reason, model=model.name, limit=refusal.limit, resets=resets)
    return texts(refusal.reason)  # "empty_request"


@router.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    """A button no handler accepts (stale, or an admin button pressed by a non-admin)."""
    await query.answer()
