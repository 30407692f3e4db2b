"""Plain messages go to the user's model; this router is the catch-all, registered last."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from handlers.keyboards import plans_button
from handlers.middlewares import Turn
from handlers.streaming import StreamingReply
from services.catalog import Catalog
from services.chat import ChatRefusalError, ChatService
from services.inbox import Offer
from services.models import UserRecord
from services.users import UsersService
from texts import Texts

router = Router(name=__name__)

# ProviderError.kind -> the text the user gets; anything else gets "error_generic".
ERROR_TEXTS = {
    "timeout": "error_timeout",
    "rate_limited": "error_rate_limited",
    "cut": "error_cut",
    "unavailable": "error_unavailable",
}
router.message.filter(F.chat.type == "private")


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, texts: Texts) -> None:
    """A command no router knows (admin commands included, for non-admins)."""
    await message.answer(texts("unknown_command"))


@router.message(F.text)
async def ask_model(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    users: UsersService,
    catalog: Catalog,
    edit_interval: float,
    turn: Turn,
) -> None:
    """Any text: stream the model's answer into the chat. Messages sent meanwhile wait,
    in order, and are answered together right after (this handler answers them)."""
    text = message.text or ""
    await turn.wait()  # a burst is queued in the order it was sent
    offer = chat.inbox.offer(user.id, text)
    turn.passed()
    if offer is Offer.FULL:
        await message.answer(texts("queue_full", limit=chat.inbox.limit))
        return
    if offer is Offer.QUEUED:
        return
    try:
        request: str | None = await chat.inbox.first_request(user.id, text)
        while request is not None:
            current = await users.get(user.id) or user  # the model may have changed meanwhile
            await _answer(
                bot, message.chat.id, current, request, texts, chat, catalog, edit_interval
            )
            request = chat.inbox.next_request(user.id)
    finally:
        chat.inbox.release(user.id)


async def _answer(
    bot: Bot,
    chat_id: int,
    user: UserRecord,
    request: str,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    edit_interval: float,
) -> None:
    """One request: refusal, streamed answer, or the provider's error, explained."""
    reply = StreamingReply(bot, chat_id, edit_interval=edit_interval)
    try:
        result = await chat.answer(user, request, reply.add)
    except ChatRefusalError as refusal:
        markup = plans_button(texts) if refusal.reason in ("locked", "too_long") else None
        text = _refusal_text(refusal, texts, catalog, len(request))
        await bot.send_message(chat_id, text, reply_markup=markup)
        return
    finally:
        reply.close()
    if result.cancelled:
        await reply.finish(texts("answer_cancelled") if reply.text else "")
        if not reply.text:
            await bot.send_message(chat_id, texts("cancel_done"))
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


@router.message()
async def not_text(message: Message, texts: Texts) -> None:
    """Stickers, photos, voice...: explain that only text is understood."""
    await message.answer(texts("only_text"))


def _refusal_text(refusal: ChatRefusalError, texts: Texts, catalog: Catalog, length: int) -> str:
    model = refusal.model
    if refusal.reason == "locked":
        plans = ", ".join(plan.name for plan in catalog.plans_with_model(model.key))
        return texts("model_locked", model=model.name, plans=plans)
    if refusal.reason == "too_long":
        return texts("too_long", length=length, limit=refusal.limit)
    if refusal.reason == "unavailable":
        return texts("model_unavailable", model=model.name)
    return texts(refusal.reason)  # "empty_request"


@router.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    """A button no handler accepts (stale, or an admin button pressed by a non-admin)."""
    await query.answer()
