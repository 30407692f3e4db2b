"""/admin: the panel's main menu. Each section's handler lives in its feature module."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from edge.admin_keyboards import menu_keyboard
from edge.callbacks import AdminMenu, Section
from edge.editing import show
from services.money.payments import PaymentService
from services.money.subscriptions import SubscriptionService
from services.users import UsersService
from texts import Texts

router = Router(name=__name__)


async def panel_text(
    texts: Texts, users: UsersService, subscriptions: SubscriptionService, payments: PaymentService
) -> str:
    return texts(
        "admin_panel",
        users=await users.count(),
        subs=sum(subscriptions.active_counts().values()),
        pending=len(payments.with_status("pending")),
    )


@router.message(Command("admin"))
async def admin_command(
    message: Message,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    state: FSMContext,
) -> None:
    """/admin: open the panel."""
    await state.clear()
    text = await panel_text(texts, users, subscriptions, payments)
    await message.answer(text, reply_markup=menu_keyboard(texts))


@router.callback_query(AdminMenu.filter(F.section == Section.MAIN))
async def back_to_menu(
    query: CallbackQuery,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    state: FSMContext,
) -> None:
    """ "Back": the main menu again (any step in progress is left)."""
    await query.answer()
    await state.clear()
    text = await panel_text(texts, users, subscriptions, payments)
    await show(query, bot, text, menu_keyboard(texts))
