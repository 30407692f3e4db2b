"""Promo codes: the commands and the creation wizard (the panel's list is `promo_section`)."""

from __future__ import annotations

import datetime as dt

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from edge.admin_keyboards import promo_plans_keyboard, skip_keyboard
from edge.callbacks import AdminPromo, PromoAct
from edge.long_messages import send_long
from edge.states import PromoWizard
from edge.views import plan_ids, promo_lines, promo_total
from services.catalog import Catalog
from services.money.promo import CODE_PATTERN, PromoError, PromoService, normalize_code
from services.operator.admin_input import MAX_DAYS, MAX_USES, echo, grouped, whole_number, within
from texts import Raw, Texts

router = Router(name=__name__)


async def create_code(
    texts: Texts,
    catalog: Catalog,
    promo: PromoService,
    *,
    code: str,
    plan_id: str,
    days: int,
    created_by: int,
    max_uses: int | None,
    valid_until: dt.date | None,
) -> str:
    """Create a code (command and wizard alike); the admin's answer."""
    if plan_id not in catalog.plans_by_id:
        return texts("admin_unknown_plan", plan=echo(plan_id), plans=plan_ids(catalog))
    if not within(days, MAX_DAYS):
        return texts("admin_days_range", max_days=MAX_DAYS)
    if max_uses is not None and not within(max_uses, MAX_USES):
        return texts("admin_uses_range", max_uses=grouped(MAX_USES))
    try:
        created = await promo.create(
            code, plan_id, days, created_by=created_by, max_uses=max_uses, valid_until=valid_until
        )
    except PromoError as error:
        limits = {"max_days": MAX_DAYS, "max_uses": grouped(MAX_USES)}  # for "bad_numbers"
        return texts(error.text_key, code=echo(code.upper()), **limits, **error.values)
    return texts(
        "admin_promo_created",
        code=created.code,
        plan=catalog.plans_by_id[created.plan_id].name,
        days=created.days,
        max_uses=created.max_uses or texts("no_limit"),
        until=created.valid_until or texts("no_date"),
    )


# Commands ---------------------------------------------------------------------------------
@router.message(Command("promo_new"))
async def promo_new(
    message: Message, command: CommandObject, texts: Texts, catalog: Catalog, promo: PromoService
) -> None:
    """/promo_new CODE PLAN DAYS [MAX_USES] [YYYY-MM-DD]: create a promo code."""
    args = (command.args or "").split()
    usage = texts("admin_promo_new_usage", plans=plan_ids(catalog))
    days = whole_number(args[2]) if 3 <= len(args) <= 5 else None
    if days is None:
        await message.answer(usage)
        return
    max_uses: int | None = None
    valid_until: dt.date | None = None
    try:
        for extra in args[3:]:
            number = whole_number(extra)
            if number is not None and max_uses is None and valid_until is None:
                max_uses = number
            else:
                valid_until = dt.date.fromisoformat(extra)
    except ValueError:
        await message.answer(usage)
        return
    answer = await create_code(
        texts,
        catalog,
        promo,
        code=args[0],
        plan_id=args[1],
        days=days,
        created_by=message.from_user.id if message.from_user else 0,
        max_uses=max_uses,
        valid_until=valid_until,
    )
    await message.answer(answer)


@router.message(Command("promo_list"))
async def promo_list(
    message: Message, bot: Bot, texts: Texts, catalog: Catalog, promo: PromoService
) -> None:
    """/promo_list: every code with its usage, and the totals (in several messages when
    long)."""
    codes = promo.codes()
    if not codes:
        await message.answer(texts("admin_promo_empty"))
        return
    items = Raw("\n".join(promo_lines(codes, texts, catalog, promo)))
    text = texts("admin_promo_list", items=items, total=promo_total(codes, texts, promo))
    await send_long(bot, message.chat.id, text)


@router.message(Command("promo_del"))
async def promo_del(
    message: Message, command: CommandObject, texts: Texts, promo: PromoService
) -> None:
    """/promo_del CODE: delete a promo code."""
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(texts("admin_promo_del_usage"))
        return
    code = args[0].upper()
    deleted = await promo.delete(code)
    await message.answer(
        texts("admin_promo_deleted" if deleted else "admin_promo_not_found", code=echo(code))
    )


# The wizard: code, plan, days, uses (or skip), last date (or skip) ------------------------------
@router.callback_query(AdminPromo.filter(F.action == PromoAct.NEW))
async def wizard_start(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """ "New code": ask for the code."""
    await query.answer()
    await state.set_state(PromoWizard.code)
    await bot.send_message(query.from_user.id, texts("admin_promo_wizard_code"))


@router.message(PromoWizard.code, F.text, ~F.text.startswith("/"))
async def wizard_code(message: Message, texts: Texts, catalog: Catalog, state: FSMContext) -> None:
    """The code typed: choose the plan (a code that can never be valid is refused here)."""
    code = normalize_code(message.text or "")
    if not CODE_PATTERN.match(code):
        await message.answer(texts("admin_promo_bad_code"))
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
    """A plan chosen: ask for the days."""
    await query.answer()
    await state.update_data(plan_id=callback_data.code)
    await state.set_state(PromoWizard.days)
    await bot.send_message(query.from_user.id, texts("admin_promo_wizard_days"))


@router.message(PromoWizard.days, F.text, ~F.text.startswith("/"))
async def wizard_days(message: Message, texts: Texts, state: FSMContext) -> None:
    """The days typed: ask for the number of uses (or skip)."""
    days = whole_number(message.text or "")
    if days is None or not within(days, MAX_DAYS):
        await message.answer(texts("admin_number_range", maximum=MAX_DAYS))
        return
    await state.update_data(days=days)
    await state.set_state(PromoWizard.uses)
    await message.answer(texts("admin_promo_wizard_uses"), reply_markup=skip_keyboard(texts))


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
    message: Message, texts: Texts, catalog: Catalog, promo: PromoService, state: FSMContext
) -> None:
    """The last valid date typed: create the code."""
    try:
        date = dt.date.fromisoformat((message.text or "").strip())
    except ValueError:
        await message.answer(texts("admin_date_expected"))
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
