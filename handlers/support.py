"""/support (and /paysupport, which Telegram asks sellers of Stars to answer), also as a
button on the payment screens and in /profile. With SUPPORT_CONTACT set, that contact;
without it, the user's next message goes to the admins, who answer it from their chat
(handlers.admin.support)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from config import Settings
from edge.admin_keyboards import support_reply_keyboard
from edge.callbacks import Support, SupportAct
from edge.editing import show
from edge.keyboards import support_cancel_keyboard, support_keyboard
from edge.notifier import Notifier
from edge.states import SupportRequest
from edge.views import support_url
from services.models import UserRecord
from texts import Texts

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


@router.message(Command("support", "paysupport"))
async def support_command(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    settings: Settings,
    notifier: Notifier,
    state: FSMContext,
) -> None:
    await open_support(bot, user.id, texts, settings, notifier, state)


@router.callback_query(Support.filter(F.action == SupportAct.OPEN))
async def support_button(
    query: CallbackQuery,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    settings: Settings,
    notifier: Notifier,
    state: FSMContext,
) -> None:
    await query.answer()
    await open_support(bot, user.id, texts, settings, notifier, state)


async def open_support(
    bot: Bot, user_id: int, texts: Texts, settings: Settings, notifier: Notifier, state: FSMContext
) -> None:
    """The contact, or (none set) the step that sends the next message to the admins."""
    contact = settings.support_contact.strip()
    if contact:
        markup = support_keyboard(support_url(contact), texts)
        text = texts("support_contact", contact=contact)
        await bot.send_message(user_id, text, reply_markup=markup)
        return
    if not notifier.admin_ids:
        await bot.send_message(user_id, texts("support_unavailable"))
        return
    await state.set_state(SupportRequest.message)
    await bot.send_message(
        user_id, texts("support_write"), reply_markup=support_cancel_keyboard(texts)
    )


@router.callback_query(Support.filter(F.action == SupportAct.CANCEL))
async def support_cancel(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    await query.answer()
    if await state.get_state() == SupportRequest.message.state:
        await state.set_state(None)
    await show(query, bot, texts("support_canceled"))


@router.message(SupportRequest.message, ~F.text.startswith("/"))
async def support_message(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    notifier: Notifier,
    state: FSMContext,
) -> None:
    """The question (text, photo, file...): a copy to every admin, with Answer."""
    await state.set_state(None)
    label = f"@{user.username}" if user.username else user.first_name or str(user.id)
    for admin_id in notifier.admin_ids:
        admin_texts = await notifier.texts_for(admin_id)
        await notifier.copy(bot, admin_id, message.chat.id, message.message_id)
        await notifier.send(
            bot,
            admin_id,
            admin_texts("admin_support_request", user=label, user_id=user.id),
            support_reply_keyboard(user.id, admin_texts),
        )
    await message.answer(texts("support_sent"))
