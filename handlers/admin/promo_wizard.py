"""The promo code wizard: code, plan, days, uses (or skip), last date (or skip).

Each step checks its answer when it is given (a code that exists, a day count out of
range, a date in the past or not a date) and keeps what the earlier steps collected, so
a mistake costs one retyped answer, never the wizard.
"""

from __future__ import annotations

import datetime as dt

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from config import Settings
from edge.admin_keyboards import promo_days_keyboard, promo_plans_keyboard, skip_keyboard
from edge.callbacks import AdminPromo, PromoAct
from edge.promo_codes import create_code
from edge.states import PromoWizard
from services.catalog import Catalog
from services.money.promo import CODE_PATTERN, PromoService, normalize_code
from services.operator.admin_input import (
    MAX_DAYS,
    MAX_USES,
    echo,
    grouped,
    typed_date,
    whole_number,
    within,
)
from texts import Texts

router = Router(name=__name__)


@router.callback_query(AdminPromo.filter(F.action == PromoAct.NEW))
async def wizard_start(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """ "New code": ask for the code."""
    await query.answer()
    await state.set_state(PromoWizard.code)
    await bot.send_message(query.from_user.id, texts("admin_promo_wizard_code"))


@router.message(PromoWizard.code, F.text, ~F.text.startswith("/"))
async def wizard_code(
    message: Message, texts: Texts, catalog: Catalog, promo: PromoService, state: FSMContext
) -> None:
    """The code typed: choose the plan. A code that can never be valid, or one that exists
    already, is refused here, and the step waits for another."""
    code = normalize_code(message.text or "")
    if not CODE_PATTERN.match(code):
        await message.answer(texts("admin_promo_bad_code"))
        return
    if promo.get(code) is not None:
        await message.answer(texts("admin_promo_exists_retry", code=echo(code)))
        return
    await state.update_data(code=code)
    await state.set_state(PromoWizard.plan)
    await message.answer(
        texts("admin_promo_wizard_plan", code=code),
        reply_markup=promo_plans_keyboard(catalog.on_sale),
    )


@router.callback_query(PromoWizard.plan, AdminPromo.filter(F.action == PromoAct.PLAN))
async def wizard_plan(
    query: CallbackQuery, callback_data: AdminPromo, bot: Bot, texts: Texts, state: FSMContext
) -> None:
    """A plan chosen: ask for the days (buttons, or a number typed)."""
    await query.answer()
    await state.update_data(plan_id=callback_data.code)
    await state.set_state(PromoWizard.days)
    await bot.send_message(
        query.from_user.id, texts("admin_promo_wizard_days"), reply_markup=promo_days_keyboard()
    )


@router.message(PromoWizard.days, F.text, ~F.text.startswith("/"))
async def wizard_days(message: Message, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """The days typed: ask for the number of uses (or skip)."""
    await _take_days(message.chat.id, bot, whole_number(message.text or ""), texts, state)


@router.callback_query(PromoWizard.days, AdminPromo.filter(F.action == PromoAct.DAYS))
async def wizard_days_button(
    query: CallbackQuery, callback_data: AdminPromo, bot: Bot, texts: Texts, state: FSMContext
) -> None:
    """A day button pressed: as if the number were typed."""
    await query.answer()
    await _take_days(query.from_user.id, bot, whole_number(callback_data.code), texts, state)


async def _take_days(
    chat_id: int, bot: Bot, days: int | None, texts: Texts, state: FSMContext
) -> None:
    if days is None or not within(days, MAX_DAYS):
        await bot.send_message(chat_id, texts("admin_number_range", maximum=MAX_DAYS))
        return
    await state.update_data(days=days)
    await state.set_state(PromoWizard.uses)
    await bot.send_message(
        chat_id, texts("admin_promo_wizard_uses"), reply_markup=skip_keyboard(texts)
    )


@router.message(PromoWizard.uses, F.text, ~F.text.startswith("/"))
async def wizard_uses(message: Message, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """The number of uses typed: ask for the last valid date (or skip)."""
    uses = whole_number(message.text or "")
    if uses is None or not within(uses, MAX_USES):
        await message.answer(texts("admin_number_range", maximum=grouped(MAX_USES)))
        return
    await state.update_data(max_uses=uses)
    await _ask_date(bot, message.chat.id, texts, state)


@router.callback_query(PromoWizard.uses, AdminPromo.filter(F.action == PromoAct.SKIP))
async def wizard_skip_uses(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """ "Skip" the number of uses: no limit."""
    await query.answer()
    await state.update_data(max_uses=None)
    await _ask_date(bot, query.from_user.id, texts, state)


@router.message(PromoWizard.date, F.text, ~F.text.startswith("/"))
async def wizard_date(
    message: Message,
    texts: Texts,
    catalog: Catalog,
    promo: PromoService,
    settings: Settings,
    state: FSMContext,
) -> None:
    """The last valid date typed (31.12.2030 or 2030-12-31): create the code."""
    date = typed_date(message.text or "")
    if date is None:
        await message.answer(texts("admin_date_expected"))
        return
    if date < dt.datetime.now(settings.zone).date():
        await message.answer(texts("admin_date_past"))
        return
    await message.answer(await _finish(message.chat.id, date, texts, catalog, promo, state))


@router.callback_query(PromoWizard.date, AdminPromo.filter(F.action == PromoAct.SKIP))
async def wizard_skip_date(
    query: CallbackQuery,
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    promo: PromoService,
    state: FSMContext,
) -> None:
    """ "Skip" the date: valid until deleted."""
    await query.answer()
    admin_id = query.from_user.id
    await bot.send_message(admin_id, await _finish(admin_id, None, texts, catalog, promo, state))


async def _ask_date(bot: Bot, chat_id: int, texts: Texts, state: FSMContext) -> None:
    await state.set_state(PromoWizard.date)
    await bot.send_message(
        chat_id, texts("admin_promo_wizard_date"), reply_markup=skip_keyboard(texts)
    )


async def _finish(
    admin_id: int,
    date: dt.date | None,
    texts: Texts,
    catalog: Catalog,
    promo: PromoService,
    state: FSMContext,
) -> str:
    data = await state.get_data()
    await state.clear()
    return await create_code(
        texts,
        catalog,
        promo,
        code=data["code"],
        plan_id=data["plan_id"],
        days=data["days"],
        created_by=admin_id,
        max_uses=data.get("max_uses"),
        valid_until=date,
    )
