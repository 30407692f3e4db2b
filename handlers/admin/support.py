"""Answering a user's /support question: Answer under it, then the text, to the user."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from edge.callbacks import SupportReply
from edge.keyboards import support_more_keyboard
from edge.notifier import Notifier
from edge.states import SupportAnswer
from services.users import UsersService
from texts import Texts

router = Router(name=__name__)


@router.callback_query(SupportReply.filter())
async def answer_button(
    query: CallbackQuery,
    callback_data: SupportReply,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    state: FSMContext,
) -> None:
    await query.answer()
    await state.set_state(SupportAnswer.text)
    await state.update_data(user_id=callback_data.user_id)
    await bot.send_message(
        query.from_user.id,
        texts("admin_support_reply_ask", user=await _label(users, callback_data.user_id)),
    )


@router.message(SupportAnswer.text, F.text, ~F.text.startswith("/"))
async def answer_text(
    message: Message, bot: Bot, texts: Texts, notifier: Notifier, state: FSMContext
) -> None:
    """The answer, to the user in their language, with a button to write again."""
    data = await state.get_data()
    await state.set_state(None)
    user_id = int(data["user_id"])
    user_texts = await notifier.texts_for(user_id)
    sent = await notifier.send(
        bot,
        user_id,
        user_texts("support_answer", text=message.text or ""),
        support_more_keyboard(user_texts),
    )
    if sent.ok:
        await message.answer(texts("admin_support_replied"))
    else:
        await message.answer(texts("admin_support_reply_failed", reason=sent.reason))


async def _label(users: UsersService, user_id: int) -> str:
    user = await users.get(user_id)
    if user is None:
        return str(user_id)
    name = f"@{user.username}" if user.username else user.first_name or ""
    return f"{name} ({user_id})" if name else str(user_id)
