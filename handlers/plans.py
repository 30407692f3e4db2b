"""/plans (/subscribe) and /promo: what a user can buy or activate."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from config import Settings
from edge.callbacks import EnterPromo, ShowPlans
from edge.keyboards import plans_keyboard
from edge.states import PromoEntry
from services.catalog import Catalog
from services.models import UserRecord
from services.money.promo import PromoService
from services.money.subscriptions import SubscriptionService
from texts import Raw, Texts, format_moment

router = Router(name=__name__)


def plans_text(
    user: UserRecord, texts: Texts, catalog: Catalog, subs: SubscriptionService, settings: Settings
) -> str:
    active = {item.plan.id: item.end for item in subs.active_plans(user.id)}
    lines = []
    for plan in catalog.on_sale:
        line = texts(
            "plan_line",
            plan=plan.name,
            price=plan.price_rub,
            models=catalog.model_names(plan),
        )
        if plan.id in active:
            line += texts("plan_active_mark", end=format_moment(active[plan.id], settings.zone))
        lines.append(line)
    days = max((plan.days for plan in catalog.on_sale), default=30)
    return texts("plans", days=days, plans=Raw("\n\n".join(lines)))


@router.message(Command("plans", "subscribe"), F.chat.type == "private")
async def plans_command(
    message: Message,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    settings: Settings,
) -> None:
    """/plans or /subscribe: every plan with its price, models and a buy button."""
    await message.answer(
        plans_text(user, texts, catalog, subscriptions, settings),
        reply_markup=plans_keyboard(list(catalog.on_sale), texts),
    )


@router.callback_query(ShowPlans.filter())
async def plans_button(
    query: CallbackQuery,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    settings: Settings,
) -> None:
    """The "Plans" button under /start and under a refusal."""
    await query.answer()
    await query.bot.send_message(  # type: ignore[union-attr]
        user.id,
        plans_text(user, texts, catalog, subscriptions, settings),
        reply_markup=plans_keyboard(list(catalog.on_sale), texts),
    )


@router.message(Command("promo"), F.chat.type == "private")
async def promo_command(
    message: Message,
    command: CommandObject,
    user: UserRecord,
    texts: Texts,
    state: FSMContext,
    promo: PromoService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """/promo CODE activates a code; bare /promo asks for it."""
    if not command.args:
        await state.set_state(PromoEntry.code)
        await message.answer(texts("promo_ask"))
        return
    await message.answer(await _activate(user, command.args, texts, promo, catalog, settings))


@router.callback_query(EnterPromo.filter())
async def promo_button(query: CallbackQuery, texts: Texts, state: FSMContext) -> None:
    """The "Enter a promo code" button."""
    await state.set_state(PromoEntry.code)
    await query.answer()
    if query.message:
        await query.message.answer(texts("promo_ask"))


@router.message(PromoEntry.code, F.text, ~F.text.startswith("/"))
async def promo_typed(
    message: Message,
    user: UserRecord,
    texts: Texts,
    state: FSMContext,
    promo: PromoService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """The code typed after /promo or the button."""
    await state.clear()
    await message.answer(await _activate(user, message.text or "", texts, promo, catalog, settings))


async def _activate(
    user: UserRecord,
    code: str,
    texts: Texts,
    promo: PromoService,
    catalog: Catalog,
    settings: Settings,
) -> str:
    # A refusal (PromoError) is said by the error handler.
    activation = await promo.activate(user.id, code.split()[0] if code.split() else "")
    plan = catalog.plans_by_id[activation.promo.plan_id]
    return texts(
        "promo_ok",
        plan=plan.name,
        days=activation.promo.days,
        end=format_moment(activation.end, settings.zone),
        models=catalog.model_names(plan),
    )
