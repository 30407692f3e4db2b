"""Answering in a chat: a request joins the user's queue, its answer streams in, and a
refusal or the provider's error is said. Used by the chat, media and group routers.

The handler only queues (`submit`); the worker that answers runs as a task of its own
(edge/workers), so a chat's next update is never held behind an answer. With Redis the
queue is every process's: a message handled anywhere joins it, and a queue whose worker
died is taken over (`adopt_orphans`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters

from edge.allowance import NOTICE_AT, free_refusal_keyboard, other_free_left
from edge.callbacks import AnswerAct
from edge.keyboards import answer_keyboard, plans_button
from edge.middlewares import Turn
from edge.streaming import StreamingReply, StreamPacing
from edge.workers import Workers
from services.catalog import Catalog, Model
from services.chat.chat import ChatResult, ChatService
from services.chat.inbox import Offer, Request
from services.chat.refusals import ChatRefusalError, Refusal
from services.errors import UserFacingError
from services.models import UserRecord
from services.operator.alerts import AlertService
from services.shared.link import SharedStateUnavailableError
from services.users import UsersService
from texts import Texts, format_moment, get_texts

logger = logging.getLogger(__name__)

# ProviderError.kind -> the text the user gets; anything else gets "error_generic".
ERROR_TEXTS = {
    "timeout": "error_timeout",
    "rate_limited": "error_rate_limited",
    "cut": "error_cut",
    "unavailable": "error_unavailable",
    "region_blocked": "error_region_blocked",
}
# A spent free allowance: the refusal offers the other free model, a new conversation
# and the plans.
FREE_SPENT: Final = frozenset({Refusal.QUOTA_FREE_REQUESTS, Refusal.QUOTA_FREE_CHARS})
# Each refusal's text: all are given model, plans, models (that see pictures), length,
# limit and resets, and use those they name.
REFUSAL_TEXTS: Final[Mapping[Refusal, str]] = {
    Refusal.EMPTY_REQUEST: "empty_request",
    Refusal.LOCKED: "model_locked",
    Refusal.UNAVAILABLE: "model_unavailable",
    Refusal.BLIND: "model_blind",
    Refusal.TOO_LONG: "too_long",
    Refusal.TOO_LONG_FOR_MODEL: "too_long_for_model",
    Refusal.QUOTA_FREE_REQUESTS: "quota_free_requests",
    Refusal.QUOTA_FREE_CHARS: "quota_free_chars",
    Refusal.QUOTA_FAIR_USE_REQUESTS: "quota_fair_use_requests",
    Refusal.QUOTA_PLAN_TOKENS: "quota_plan_tokens",
    Refusal.VOICE_OFF: "voice_off",
    Refusal.VOICE_TOO_LONG: "voice_too_long",
    Refusal.VOICE_TOO_LONG_FREE: "voice_too_long_free",
    Refusal.VOICE_FREE_DAY: "voice_free_day",
}


@dataclass(slots=True, frozen=True)
class Answerer:
    """What answering needs beyond the update, made once with the dispatcher (handlers
    get it as `answerer`)."""

    chat: ChatService
    users: UsersService
    catalog: Catalog
    edit_interval: float
    zone: ZoneInfo
    pacing: StreamPacing
    alerts: AlertService
    workers: Workers

    def bind(self, bot: Bot, texts: Texts) -> Answering:
        """The same, with the update's bot and the user's texts."""
        return Answering(
            bot,
            texts,
            self.chat,
            self.users,
            self.catalog,
            self.edit_interval,
            self.zone,
            self.pacing,
            self.alerts,
            self.workers,
        )


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
    pacing: StreamPacing
    alerts: AlertService
    workers: Workers


async def submit(
    deps: Answering, message: Message, user: UserRecord, request: Request | str, turn: Turn
) -> None:
    """A request (typed, heard in a voice message, read from a file, or a picture) joins
    the user's queue once its turn has come: answered now (by a worker task), or right
    after the answer being written. SharedStateUnavailableError: Redis does not answer,
    nothing queued (the error handler says so)."""
    request = Request(request) if isinstance(request, str) else request
    try:
        offer = await deps.chat.inbox.offer(user.id, request)
    finally:
        turn.passed()
    if offer is Offer.FULL:  # said once per overflow; Offer.DROPPED is quiet
        await message.answer(deps.texts("queue_full", limit=deps.chat.inbox.limit))
        return
    if offer is Offer.START:
        start_worker(deps, message.chat.id, user, request)


def start_worker(
    deps: Answering, chat_id: int, user: UserRecord, first: Request | None, *, whole: bool = False
) -> None:
    """The user's worker, as a task: `first` (with the rest of its paste or album, unless
    `whole`: as it is), then what queues behind; None: what waits already (a queue taken
    over)."""
    work = _worker(deps, chat_id, user, first, whole)
    deps.workers.start(guarded(deps, chat_id, user.id, work), f"answer-{user.id}")


async def _worker(
    deps: Answering, chat_id: int, user: UserRecord, first: Request | None, whole: bool
) -> None:
    inbox = deps.chat.inbox
    try:
        if first is None:
            request = await inbox.next_request(user.id)
        elif whole:
            request = first
        else:
            request = await inbox.first_request(user.id, first)
        await work(deps, chat_id, user, request)
    finally:
        await inbox.release(user.id)


async def guarded(
    deps: Answering, chat_id: int, user_id: int, answering: Coroutine[Any, Any, None]
) -> None:
    """What the error handler does for a handler, for answers written in a task: a
    refusal (Redis went away mid-way: nothing charged) said, anything else logged, the
    admins alerted, the user told."""
    try:
        await answering
    except UserFacingError as refusal:
        logger.info("Answer for user %s refused: %s", user_id, refusal)
        await _say(deps, chat_id, deps.texts(refusal.text_key, **refusal.values))
    except Exception as error:
        logger.exception("Error answering user %s in chat %s", user_id, chat_id)
        await deps.alerts.alert(
            f"answer:{type(error).__name__}",
            f"Error writing an answer: {type(error).__name__}: {str(error)[:300]} (user {user_id})",
        )
        await _say(deps, chat_id, deps.texts("internal_error"))


async def _say(deps: Answering, chat_id: int, text: str) -> None:
    try:
        await deps.bot.send_message(chat_id, text)
    except TelegramAPIError as error:
        logger.warning("Could not tell chat %s: %s", chat_id, error)


async def work(deps: Answering, chat_id: int, user: UserRecord, request: Request | None) -> None:
    """Answer `request`, then whatever queued up meanwhile, until nothing waits (the
    caller releases the queue)."""
    while request is not None:
        current = await deps.users.get(user.id) or user  # the model may have changed
        await _answer(deps, chat_id, current, request)
        try:
            request = await deps.chat.inbox.next_request(user.id)
        except SharedStateUnavailableError:  # what waits stays queued: taken over later
            logger.info("User %s's queue is left for when Redis answers", user.id)
            return


async def adopt_orphans(answerer: Answerer, bot: Bot) -> int:
    """Answer the queues whose worker is gone (its process died or stopped): with Redis,
    one look; how many were taken over."""
    users = await answerer.chat.inbox.orphans()
    for user_id in users:
        user = await answerer.users.get(user_id)
        if user is None:  # never registered here: nobody to answer as
            await answerer.chat.inbox.drop(user_id)
            await answerer.chat.inbox.release(user_id)
            continue
        logger.info("Answering user %s's waiting messages (their worker is gone)", user_id)
        start_worker(answerer.bind(bot, get_texts(user.language)), user_id, user, None)
    return len(users)


async def _answer(deps: Answering, chat_id: int, user: UserRecord, request: Request) -> None:
    """One request: refusal, streamed answer (Stop under it, then Retry), or the provider's
    error explained (with Retry)."""
    texts = deps.texts
    await deps.pacing.catch_up(chat_id)  # a 429 another process got in this chat
    reply = StreamingReply(
        deps.bot,
        chat_id,
        pacing=deps.pacing,
        edit_interval=deps.edit_interval,
        streaming_markup=answer_keyboard(AnswerAct.STOP, texts),
        final_markup=answer_keyboard(AnswerAct.RETRY, texts),
    )
    try:
        result = await deps.chat.answer(user, request, reply)
    except ChatRefusalError as refusal:
        await refuse_privately(deps, chat_id, user.id, refusal, len(request.text))
        return
    finally:
        reply.close()
    await show_result(reply, result, texts)
    if reply.last_message_id is not None:
        await deps.chat.retries.remember_answer(user.id, chat_id, reply.last_message_id)
    if result.error is None and not result.cancelled:
        await _tell_if_few_left(deps, chat_id, user.id, result.model)


async def refuse_privately(
    deps: Answering,
    chat_id: int,
    user_id: int,
    refusal: ChatRefusalError,
    length: int,
    *,
    reply_to: int | None = None,
) -> None:
    """A refusal in the user's own chat; a spent free allowance names the other free
    model's requests left and offers it, a new conversation and the plans as buttons."""
    texts = deps.texts
    text = refusal_text(refusal, texts, deps.catalog, length, deps.zone)
    markup = None
    if refusal.reason in FREE_SPENT:
        gate = deps.chat.gate
        other = other_free_left(deps.catalog, gate.quota, user_id, refusal.model, gate.available)
        if other is not None:
            text += "\n\n" + texts("quota_other_free", model=other[0].name, left=other[1])
        markup = free_refusal_keyboard(deps.catalog, texts, other)
    await send_refusal(deps.bot, chat_id, refusal, text, texts, reply_to=reply_to, markup=markup)


async def _tell_if_few_left(deps: Answering, chat_id: int, user_id: int, model: Model) -> None:
    """Once a day per free model: the answer that leaves NOTICE_AT free requests is
    followed by a notice saying so (and what the other free model still has)."""
    quota = deps.chat.gate.quota
    left = quota.left_today(user_id, [model])
    if not left or left[0].limits.kind != "free" or left[0].requests != NOTICE_AT:
        return
    texts, gate = deps.texts, deps.chat.gate
    resets = format_moment(quota.resets_at(), deps.zone)
    other = other_free_left(deps.catalog, quota, user_id, model, gate.available)
    if other is None:
        text = texts("free_three_left", left=NOTICE_AT, model=model.name, resets=resets)
    else:
        text = texts(
            "free_three_left_other",
            left=NOTICE_AT,
            model=model.name,
            other=other[0].name,
            other_left=other[1],
            resets=resets,
        )
    with contextlib.suppress(TelegramAPIError):  # a notice: never the answer's failure
        await deps.bot.send_message(chat_id, text)


async def send_refusal(
    bot: Bot,
    chat_id: int,
    refusal: ChatRefusalError,
    text: str,
    texts: Texts,
    *,
    reply_to: int | None = None,
    thread_id: int | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Why a request was not sent to the model, with the plans where they would help
    (or `markup`'s buttons)."""
    if markup is None and refusal.plan_lifts:
        markup = plans_button(texts)
    await bot.send_message(
        chat_id,
        text,
        reply_markup=markup,
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
        if not result.empty:
            await reply.finish()
        else:
            await reply.replace_with(texts("empty_answer"))
    elif result.error == "cut" and reply.text.strip():
        await reply.finish(texts("answer_cut"))
    else:
        key = ERROR_TEXTS.get(result.error, "error_generic")
        await reply.replace_with(texts(key, model=result.model.name))


def refusal_text(
    refusal: ChatRefusalError, texts: Texts, catalog: Catalog, length: int, zone: ZoneInfo
) -> str:
    model = refusal.model
    return texts(
        REFUSAL_TEXTS[refusal.reason],
        model=model.name,
        plans=", ".join(plan.name for plan in catalog.plans_with_model(model.key)),
        models=", ".join(m.name for m in catalog.models if m.vision),
        length=length,
        limit=refusal.limit,
        resets=format_moment(refusal.resets_at or 0.0, zone),
    )
