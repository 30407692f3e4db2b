"""Buttons of first contact and of the free allowance: /start's example questions (a
button asks it) and, under a spent free allowance, going on with the other free model."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message

from edge.answering import Answerer, start_worker
from edge.callbacks import Example, FreeModel
from edge.editing import show
from edge.keyboards import EXAMPLES
from services.catalog import Catalog
from services.chat.inbox import Request
from services.chat.llm import LLMGateway
from services.limits.access import AccessService
from services.limits.quota import QuotaService
from services.models import UserRecord
from services.users import UsersService
from texts import Texts

router = Router(name=__name__)


@router.callback_query(Example.filter())
async def ask_example(
    query: CallbackQuery,
    callback_data: Example,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    answerer: Answerer,
) -> None:
    """An example question under /start: shown as asked, then answered like a typed one
    (the user's model, limits and memory)."""
    message = query.message
    if callback_data.index not in EXAMPLES or not isinstance(message, Message):
        await query.answer()
        return
    if message.chat.type != "private":
        await query.answer()
        return
    chat = answerer.chat
    if not await chat.inbox.claim(user.id):  # an answer is being written
        await query.answer(texts("example_busy"))
        return
    try:
        question = texts(f"example_{callback_data.index}")
        await query.answer()
        await bot.send_message(message.chat.id, texts("example_asked", question=question))
    except BaseException:
        await chat.inbox.release(user.id)
        raise
    start_worker(answerer.bind(bot, texts), message.chat.id, user, Request(question), whole=True)


@router.callback_query(FreeModel.filter())
async def other_free_model(
    query: CallbackQuery,
    callback_data: FreeModel,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    access: AccessService,
    quota: QuotaService,
    users: UsersService,
    answerer: Answerer,
    llm: LLMGateway,
) -> None:
    """The refusal's "go on with <the other free model>": the conversation switches to it,
    and the refusal says so (or, spent meanwhile, why not)."""
    model = catalog.model(callback_data.key)
    if model is None or not model.free or not llm.is_available(model):
        await query.answer(texts("model_unknown"), show_alert=True)
        return
    if not access.can_use(user.id, model):  # (a free model is open to all; kept safe)
        await query.answer(texts("model_unknown"), show_alert=True)
        return
    await quota.refresh(user.id)
    counted = quota.left_today(user.id, [model])
    left = counted[0] if counted else None
    if left is not None and left.requests == 0:
        await query.answer(texts("free_other_spent", model=model.name), show_alert=True)
        return
    await users.set_model(user, model.key)
    await answerer.chat.conversations.set_current_model(user.id, model.key)
    await query.answer()
    if left is None or left.requests is None:
        text = texts("free_switched_unlimited", model=model.name)
    else:
        text = texts("free_switched", model=model.name, left=left.requests)
    await show(query, bot, text)
