"""Users: find one by id, @username or name, and their card (grants and revocations, by command
and by button, are in `grants`)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from config import Settings
from edge.admin_keyboards import found_users_keyboard, user_keyboard, with_back
from edge.callbacks import AdminMenu, AdminUser, Section, UserAct
from edge.editing import show
from edge.long_messages import send_long
from edge.states import AdminFind
from edge.views import payment_line
from services.catalog import Catalog
from services.models import Payment, UserRecord
from services.money.payments import PaymentService
from services.money.subscriptions import SubscriptionService
from services.operator.admin_input import echo
from services.operator.reports import month_start, revenue_of
from services.operator.stats import StatsService
from services.users import UsersService
from texts import Raw, Texts, format_moment, formatting

router = Router(name=__name__)


# Finding a user -------------------------------------------------------------------------------
@router.callback_query(AdminMenu.filter(F.section == Section.USERS))
async def ask_for_user(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """The panel's "Users": ask for an id or @username."""
    await query.answer()
    await state.set_state(AdminFind.query)
    await show(query, bot, texts("admin_find_ask"), with_back(texts))


@router.message(AdminFind.query, F.text, ~F.text.startswith("/"))
async def find_user(
    message: Message,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
    state: FSMContext,
) -> None:
    """The id, @username or name typed after "Users": the user's card, or the users of
    that name to choose from."""
    query = message.text or ""
    found = await users.find(query)
    matches = [found] if found is not None else await users.find_by_name(query)
    if not matches:
        await message.answer(texts("admin_user_not_found", query=echo(query)))
        return
    await state.clear()
    if len(matches) > 1:
        text = texts("admin_users_found", query=echo(query), count=len(matches))
        await message.answer(text, reply_markup=found_users_keyboard(matches, texts))
        return
    text = await user_card(matches[0], texts, subscriptions, payments, stats, catalog, settings)
    await send_long(bot, message.chat.id, text, user_keyboard(matches[0].id, texts))


@router.callback_query(AdminUser.filter(F.action == UserAct.CARD))
async def open_card(
    query: CallbackQuery,
    callback_data: AdminUser,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """A user chosen from a search by name: their card."""
    await query.answer()
    user = await users.get(callback_data.user_id)
    if user is None:
        await bot.send_message(query.from_user.id, texts("admin_user_gone"))
        return
    text = await user_card(user, texts, subscriptions, payments, stats, catalog, settings)
    await send_long(bot, query.from_user.id, text, user_keyboard(user.id, texts))


async def user_card(
    user: UserRecord,
    texts: Texts,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
) -> str:
    plans = [
        f"• {item.plan.name} — {formatting.moment(item.end, settings.zone, texts.language)}"
        for item in subscriptions.active_plans(user.id)
    ]
    own = [p for p in payments.live() if p.user_id == user.id][-10:]  # recent and open
    model = catalog.model(user.model_key)
    paid = await payments.paid_since(month_start(settings.zone), user.id)
    return texts(
        "admin_user_card",
        name=f"@{user.username}" if user.username else user.first_name,
        user_id=user.id,
        language=user.language,
        model=model.name if model else "—",
        since=format_moment(user.created_at, settings.zone) if user.created_at else "—",
        blocked=texts("admin_user_blocked") if user.blocked else "",
        messages=await stats.user_message_count(user.id, 30),
        cost=f"{await stats.user_cost_this_month(user.id):.2f}",
        paid=_paid_this_month(paid, texts),
        plans="\n".join(plans) or texts("none"),
        payments=Raw(
            "\n".join(payment_line(p, texts, settings.zone, catalog) for p in own) or texts("none")
        ),
    )


def _paid_this_month(paid: list[Payment], texts: Texts) -> str:
    revenue = revenue_of(paid)
    return texts("admin_paid_amount", rub=f"{revenue.rub:g}", stars=f"{revenue.stars:g}")
