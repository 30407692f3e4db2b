"""/plans (/subscribe) and /promo: what a user can buy or activate."""

from __future__ import annotations

import re

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from config import Settings
from edge.callbacks import CancelPromo, EnterPromo, PlansMenu, ShowPlans
from edge.deep_links import PLANS
from edge.editing import show
from edge.keyboards import plans_keyboard, promo_cancel_keyboard
from edge.shop import active_ends, plans_text
from edge.states import PromoEntry
from services.catalog import Catalog
from services.models import UserRecord
from services.money.promo import PromoError, PromoService
from services.money.subscriptions import SubscriptionService
from texts import Texts, format_moment

router = Router(name=__name__)

# What a typed promo code looks like (the admins' codes: 3-32 of these); anything else
# typed while the bot waits for one is a question for the model, not a wrong code.
CODE_SHAPE = re.compile(r"\s*[A-Za-z0-9_-]{3,32}\s*")


def _screen(
    user: UserRecord, texts: Texts, catalog: Catalog, subs: SubscriptionService, settings: Settings
) -> tuple[str, InlineKeyboardMarkup]:
    active = set(active_ends(user.id, subs))
    return (
        plans_text(user.id, texts, catalog, subs, settings.zone),
        plans_keyboard(list(catalog.on_sale), texts, active),
    )


@router.message(CommandStart(deep_link=True, magic=F.args == PLANS), F.chat.type == "private")
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
    text, markup = _screen(user, texts, catalog, subscriptions, settings)
    await message.answer(text, reply_markup=markup)


@router.callback_query(ShowPlans.filter(), F.message.chat.type == "private")
async def plans_button(
    query: CallbackQuery,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    settings: Settings,
) -> None:
    """The "Plans" button under a refusal: the plans below it (the refusal stays)."""
    await query.answer()
    text, markup = _screen(user, texts, catalog, subscriptions, settings)
    await query.bot.send_message(user.id, text, reply_markup=markup)  # type: ignore[union-attr]


@router.callback_query(PlansMenu.filter(), F.message.chat.type == "private")
async def plans_menu(
    query: CallbackQuery,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    settings: Settings,
) -> None:
    """ "Plans" in a menu (/start) and Back from a payment screen: the plans in place."""
    await query.answer()
    text, markup = _screen(user, texts, catalog, subscriptions, settings)
    await show(query, bot, text, markup)


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
        await message.answer(texts("promo_ask"), reply_markup=promo_cancel_keyboard(texts))
        return
    await message.answer(await _activate(user, command.args, texts, promo, catalog, settings))


@router.callback_query(EnterPromo.filter())
async def promo_button(query: CallbackQuery, texts: Texts, state: FSMContext) -> None:
    """The "Enter a promo code" button."""
    await state.set_state(PromoEntry.code)
    await query.answer()
    if query.message:
        await query.message.answer(texts("promo_ask"), reply_markup=promo_cancel_keyboard(texts))


@router.callback_query(CancelPromo.filter())
async def promo_cancel(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """Cancel under the prompt: no code is awaited any more."""
    if await state.get_state() == PromoEntry.code.state:
        await state.clear()
    await query.answer()
    await show(query, bot, texts("promo_cancelled"))


@router.message(PromoEntry.code, F.text.regexp(CODE_SHAPE.pattern), ~F.text.startswith("/"))
async def promo_typed(
    message: Message,
    user: UserRecord,
    texts: Texts,
    state: FSMContext,
    promo: PromoService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """The code typed after /promo or the button. A wrong one keeps the step: what was
    wrong, and the prompt again with Cancel."""
    try:
        answer = await _activate(user, message.text or "", texts, promo, catalog, settings)
    except PromoError as refusal:
        wrong = texts(refusal.text_key, **refusal.values)
        if refusal.reason == "throttled":  # no use asking again now
            await state.clear()
            await message.answer(wrong)
            return
        await message.answer(
            texts("promo_try_again", error=wrong), reply_markup=promo_cancel_keyboard(texts)
        )
        return
    await state.clear()
    await message.answer(answer)


@router.message(PromoEntry.code, F.text, ~F.text.startswith("/"))
async def not_a_code(message: Message, state: FSMContext) -> None:
    """Text that is no code (a question, several words): the step ends and the text goes
    on to the model like any other message."""
    await state.clear()
    raise SkipHandler


async def _activate(
    user: UserRecord,
    code: str,
    texts: Texts,
    promo: PromoService,
    catalog: Catalog,
    settings: Settings,
) -> str:
    # A refusal (PromoError) is said by the error handler, or by promo_typed.
    activation = await promo.activate(user.id, code.split()[0] if code.split() else "")
    plan = catalog.plans_by_id[activation.promo.plan_id]
    return texts(
        "promo_ok",
        plan=plan.name,
        days=activation.promo.days,
        end=format_moment(activation.end, settings.zone),
        models=catalog.model_names(plan),
    )
