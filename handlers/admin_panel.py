"""/admin: the panel with users, payments, statistics and promo codes (ADMIN_IDS only)."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from config import Settings
from handlers.callbacks import AdminMenu, AdminPayment, AdminPromo, AdminUser
from handlers.views import METHOD_NAMES, payment_line, promo_line, tell_user
from services.catalog import Catalog
from services.chart import daily_chart
from services.models import UserRecord
from services.payments import PaymentService
from services.promo import PromoError, PromoService
from services.reports import Revenue, export_payments, revenue_report
from services.stats import StatsService
from services.subscriptions import SubscriptionService
from services.users import UsersService
from texts import Raw, Texts, format_moment

router = Router(name=__name__)  # included under the admin-only router (handlers/__init__.py)

GRANT_DAYS = (7, 30, 90, 365)


class AdminFind(StatesGroup):
    query = State()


class PromoWizard(StatesGroup):
    code = State()
    plan = State()
    days = State()
    uses = State()
    date = State()


# Keyboards ----------------------------------------------------------------------------
def _menu_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for section in ("users", "payments", "stats", "promo", "broadcast"):
        builder.button(text=texts(f"btn_admin_{section}"), callback_data=AdminMenu(section=section))
    builder.adjust(2)
    return builder.as_markup()


def _back(texts: Texts, builder: InlineKeyboardBuilder | None = None) -> InlineKeyboardMarkup:
    builder = builder or InlineKeyboardBuilder()
    builder.button(text=texts("btn_back"), callback_data=AdminMenu(section="main"))
    builder.adjust(1)
    return builder.as_markup()


# Entry --------------------------------------------------------------------------------
async def _panel_text(
    texts: Texts, users: UsersService, subscriptions: SubscriptionService, payments: PaymentService
) -> str:
    now = time.time()
    active = sum(1 for sub in subscriptions.subscriptions() if sub.is_active(now))
    return texts(
        "admin_panel",
        users=await users.count(),
        subs=active,
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
    text = await _panel_text(texts, users, subscriptions, payments)
    await message.answer(text, reply_markup=_menu_keyboard(texts))


@router.callback_query(AdminMenu.filter())
async def admin_section(
    query: CallbackQuery,
    callback_data: AdminMenu,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    promo: PromoService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
    state: FSMContext,
) -> None:
    """A panel button: show that section."""
    await query.answer()
    admin_id = query.from_user.id
    section = callback_data.section
    if section == "main":
        await state.clear()
        text = await _panel_text(texts, users, subscriptions, payments)
        await _show(query, bot, text, _menu_keyboard(texts))
    elif section == "users":
        await state.set_state(AdminFind.query)
        await _show(query, bot, texts("admin_find_ask"), _back(texts))
    elif section == "payments":
        text, markup = await _payments_section(texts, payments, settings)
        await _show(query, bot, text, markup)
    elif section == "export":
        await send_payments_export(bot, admin_id, payments, settings)
    elif section == "stats":
        await send_stats(
            bot, admin_id, texts, users, subscriptions, payments, stats, catalog, settings
        )
    elif section == "promo":
        text, markup = _promo_section(texts, promo, catalog)
        await _show(query, bot, text, markup)
    elif section == "broadcast":
        from handlers.admin_broadcast import BroadcastDraft

        await state.set_state(BroadcastDraft.content)
        await bot.send_message(admin_id, texts("admin_broadcast_ask"))


async def send_payments_export(
    bot: Bot, chat_id: int, payments: PaymentService, settings: Settings
) -> None:
    """Every payment as CSV, streamed from storage into files under Telegram's limit."""
    with tempfile.TemporaryDirectory() as folder:
        stem = f"payments-{dt.datetime.now(settings.zone).date().isoformat()}"
        files = await export_payments(payments.history(), settings.zone, Path(folder), stem)
        for path in files:
            await bot.send_document(chat_id, FSInputFile(path, filename=path.name))


async def _show(
    query: CallbackQuery, bot: Bot, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Edit the panel message in place, or send a new one when it cannot be edited."""
    if isinstance(query.message, Message) and query.message.text:
        try:
            await query.message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


# Users --------------------------------------------------------------------------------
@router.message(StateFilter(AdminFind.query), F.text, ~F.text.startswith("/"))
async def find_user(
    message: Message,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
    state: FSMContext,
) -> None:
    """The id or @username typed after "Users"."""
    found = await users.find(message.text or "")
    if found is None:
        await message.answer(texts("admin_user_not_found", query=message.text or ""))
        return
    await state.clear()
    text = await _user_card(found, texts, subscriptions, payments, stats, catalog, settings)
    await message.answer(text, reply_markup=_user_keyboard(found.id, texts))


async def _user_card(
    user: UserRecord,
    texts: Texts,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
) -> str:
    plans = [
        f"• {item.plan.name} — {format_moment(item.end, settings.zone)}"
        for item in subscriptions.active_plans(user.id)
    ]
    own = [p for p in payments.live() if p.user_id == user.id][-10:]  # recent and open
    model = catalog.model(user.model_key)
    return texts(
        "admin_user_card",
        name=f"@{user.username}" if user.username else user.first_name,
        user_id=user.id,
        language=user.language,
        model=model.name if model else "—",
        since=format_moment(user.created_at, settings.zone) if user.created_at else "—",
        blocked=texts("admin_user_blocked") if user.blocked else "",
        messages=await stats.user_message_count(user.id, 30),
        plans="\n".join(plans) or texts("none"),
        payments=Raw(
            "\n".join(payment_line(p, texts, settings.zone) for p in own) or texts("none")
        ),
    )


def _user_keyboard(user_id: int, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_grant"), callback_data=AdminUser(action="grant", user_id=user_id)
    )
    builder.button(
        text=texts("btn_revoke"), callback_data=AdminUser(action="revoke", user_id=user_id)
    )
    return _back(texts, builder)


@router.callback_query(AdminUser.filter())
async def user_action(
    query: CallbackQuery,
    callback_data: AdminUser,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """Grant / revoke steps on a user card, each ending in a confirmation."""
    await query.answer()
    data = callback_data
    builder = InlineKeyboardBuilder()
    if data.action == "grant":
        for plan in catalog.on_sale:
            builder.button(
                text=plan.name,
                callback_data=AdminUser(action="plan", user_id=data.user_id, plan_id=plan.id),
            )
        await _show(
            query, bot, texts("admin_choose_plan", user_id=data.user_id), _back(texts, builder)
        )
    elif data.action == "plan":
        for days in GRANT_DAYS:
            builder.button(
                text=str(days),
                callback_data=AdminUser(
                    action="days", user_id=data.user_id, plan_id=data.plan_id, days=days
                ),
            )
        plan = catalog.plans_by_id[data.plan_id]
        text = texts("admin_choose_days", plan=plan.name, user_id=data.user_id)
        await _show(query, bot, text, _back(texts, builder))
    elif data.action == "days":
        builder.button(
            text=texts("btn_yes"), callback_data=data.model_copy(update={"action": "grant_ok"})
        )
        plan = catalog.plans_by_id[data.plan_id]
        text = texts("admin_confirm_grant", plan=plan.name, days=data.days, user_id=data.user_id)
        await _show(query, bot, text, _back(texts, builder))
    elif data.action == "grant_ok":
        # Keyed on the confirmation message, not the press: a double tap grants once.
        message = query.message
        where = f"{message.chat.id}:{message.message_id}" if message else f"query:{query.id}"
        source = f"admin:{query.from_user.id}:{where}"
        if subscriptions.has_source(data.user_id, source):
            return  # pressed again: granted once already, the admin saw it
        subscription = await subscriptions.grant(data.user_id, data.plan_id, data.days, source)
        plan = catalog.plans_by_id[data.plan_id]
        end = format_moment(subscription.end, settings.zone)
        await _show(
            query,
            bot,
            texts("admin_granted", user_id=data.user_id, plan=plan.name, days=data.days, end=end),
            _back(texts),
        )
        await tell_user(
            bot,
            users,
            data.user_id,
            "granted_notice",
            plan=plan.name,
            end=end,
            models=catalog.model_names(plan),
        )
    elif data.action == "revoke":
        for item in subscriptions.active_plans(data.user_id):
            builder.button(
                text=item.plan.name,
                callback_data=AdminUser(
                    action="revoke_ask", user_id=data.user_id, plan_id=item.plan.id
                ),
            )
        builder.button(
            text=texts("btn_all_plans"),
            callback_data=AdminUser(action="revoke_ask", user_id=data.user_id),
        )
        await _show(
            query, bot, texts("admin_choose_plan", user_id=data.user_id), _back(texts, builder)
        )
    elif data.action == "revoke_ask":
        builder.button(
            text=texts("btn_yes"), callback_data=data.model_copy(update={"action": "revoke_ok"})
        )
        name = catalog.plans_by_id[data.plan_id].name if data.plan_id else texts("btn_all_plans")
        await _show(
            query,
            bot,
            texts("admin_confirm_revoke", plan=name, user_id=data.user_id),
            _back(texts, builder),
        )
    elif data.action == "revoke_ok":
        revoked = await subscriptions.revoke(data.user_id, data.plan_id or None)
        if not revoked:
            await _show(
                query,
                bot,
                texts("admin_nothing_to_revoke", user_id=data.user_id, plan=""),
                _back(texts),
            )
            return
        names = [catalog.plans_by_id[pid].name for pid in revoked]
        await _show(
            query,
            bot,
            texts("admin_revoked", user_id=data.user_id, plans=", ".join(names)),
            _back(texts),
        )
        for name in names:
            await tell_user(bot, users, data.user_id, "revoked_notice", plan=name)


# Payments -------------------------------------------------------------------------------
def _revenue_lines(groups: dict[str, Revenue], texts: Texts) -> str:
    lines = [
        texts(
            "admin_revenue_line",
            name=name,
            rub=f"{rev.rub:g}",
            stars=f"{rev.stars:g}",
            count=rev.count,
        )
        for name, rev in groups.items()
    ]
    return "\n".join(lines) or texts("none")


async def _payments_section(
    texts: Texts, payments: PaymentService, settings: Settings
) -> tuple[str, InlineKeyboardMarkup]:
    report = await revenue_report(payments.history(), settings.zone)
    week_ago = (dt.datetime.now(settings.zone) - dt.timedelta(days=6)).date().isoformat()
    by_day = {k: v for k, v in sorted(report.by_day.items()) if k >= week_ago}
    pending = payments.with_status("pending")
    lines = [
        texts(
            "admin_pending_item",
            payment_id=p.id,
            method=METHOD_NAMES.get(p.method, p.method),
            plan=p.plan_id,
            amount=f"{p.amount:g}",
            user_id=p.user_id,
            receipt=texts("admin_pending_receipt") if p.receipt_sent else "",
        )
        for p in pending[-10:]
    ]
    text = texts(
        "admin_payments_section",
        pending=Raw("\n".join(lines) or texts("none")),
        by_day=Raw(_revenue_lines(by_day, texts)),
        by_month=Raw(_revenue_lines(dict(sorted(report.by_month.items())), texts)),
        by_method=Raw(_revenue_lines(dict(sorted(report.by_method.items())), texts)),
    )
    builder = InlineKeyboardBuilder()
    # Only SBP waits for a manager; YooMoney and Stars are credited when the money arrives,
    # so a Confirm button on them would grant a plan for an unpaid invoice.
    for payment in [p for p in pending[-10:] if p.method == "sbp"]:
        builder.button(
            text=f"✅ {payment.id}",
            callback_data=AdminPayment(action="confirm", payment_id=payment.id),
        )
        builder.button(
            text=f"❌ {payment.id}",
            callback_data=AdminPayment(action="reject", payment_id=payment.id),
        )
    builder.button(text=texts("btn_export_csv"), callback_data=AdminMenu(section="export"))
    builder.button(text=texts("btn_back"), callback_data=AdminMenu(section="main"))
    builder.adjust(2)
    return text[:4096], builder.as_markup()


# Statistics ------------------------------------------------------------------------------
@router.message(Command("stats"))
async def stats_command(
    message: Message,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """/stats: figures and the 30-day chart."""
    await send_stats(
        bot, message.chat.id, texts, users, subscriptions, payments, stats, catalog, settings
    )


async def send_stats(
    bot: Bot,
    chat_id: int,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    zone = settings.zone
    today = stats.today()
    report = await revenue_report(payments.history(), zone)
    summary = await stats.summary(30)

    def money(since: dt.date) -> str:
        rev = report.since(since)
        return f"{rev.rub:g} ₽, {rev.stars:g} ⭐ ({rev.count})"

    model_lines = [
        texts(
            "admin_stats_model",
            model=catalog.models_by_key[row.model].name
            if row.model in catalog.models_by_key
            else row.model,
            messages=row.messages,
            failures=row.failures,
            prompt=row.prompt_tokens,
            completion=row.completion_tokens,
        )
        for row in summary.models
    ]
    text = texts(
        "admin_stats",
        users_total=await users.count(),
        new_today=summary.new_today,
        active_7d=summary.active_7d,
        subs="\n".join(
            f"{catalog.plans_by_id[p].name}: {n}"
            for p, n in subscriptions.active_counts().items()
            if p in catalog.plans_by_id
        )
        or texts("none"),
        rev_today=money(today),
        rev_7d=money(today - dt.timedelta(days=6)),
        rev_30d=money(today - dt.timedelta(days=29)),
        models=Raw("\n".join(model_lines) or texts("none")),
        refusals=summary.refusals,
    )
    await bot.send_message(chat_id, text)
    days = [day for day, _ in summary.daily_new_users]
    revenue = [report.by_day.get(day.isoformat(), Revenue()).rub for day in days]
    png = await asyncio.to_thread(
        daily_chart,
        days,
        revenue,
        [count for _, count in summary.daily_new_users],
        texts("admin_chart_title"),
    )
    await bot.send_photo(chat_id, BufferedInputFile(png, filename="stats.png"))


# Promo codes ------------------------------------------------------------------------------
def _promo_section(
    texts: Texts, promo: PromoService, catalog: Catalog
) -> tuple[str, InlineKeyboardMarkup]:
    builder = InlineKeyboardBuilder()
    items = []
    for item in promo.codes()[-15:]:
        items.append(promo_line(item, promo.uses(item.code), texts, catalog))
        toggle = "enable" if item.disabled else "disable"
        builder.button(
            text=texts(f"btn_{toggle}", code=item.code),
            callback_data=AdminPromo(action=toggle, code=item.code),
        )
        builder.button(
            text=texts("btn_delete", code=item.code),
            callback_data=AdminPromo(action="delete", code=item.code),
        )
    builder.button(text=texts("btn_new_promo"), callback_data=AdminPromo(action="new"))
    builder.button(text=texts("btn_back"), callback_data=AdminMenu(section="main"))
    builder.adjust(2)
    text = texts("admin_promo_section", items=Raw("\n".join(items) or texts("admin_promo_empty")))
    return text[:4096], builder.as_markup()


@router.callback_query(AdminPromo.filter())
async def promo_action(
    query: CallbackQuery,
    callback_data: AdminPromo,
    bot: Bot,
    texts: Texts,
    promo: PromoService,
    catalog: Catalog,
    state: FSMContext,
) -> None:
    """Promo section buttons and the wizard's plan / skip buttons."""
    await query.answer()
    action, code = callback_data.action, callback_data.code
    if action == "new":
        await state.set_state(PromoWizard.code)
        await bot.send_message(query.from_user.id, texts("admin_promo_wizard_code"))
        return
    if action == "plan" and await state.get_state() == PromoWizard.plan:
        await state.update_data(plan_id=code)
        await state.set_state(PromoWizard.days)
        await bot.send_message(query.from_user.id, texts("admin_promo_wizard_days"))
        return
    if action == "skip":
        current = await state.get_state()
        if current == PromoWizard.uses:
            await state.update_data(max_uses=None)
            await _ask_date(bot, query.from_user.id, texts, state)
        elif current == PromoWizard.date:
            await _finish_wizard(bot, query.from_user.id, None, texts, promo, catalog, state)
        return
    if action in ("disable", "enable"):
        await promo.set_disabled(code, action == "disable")
    elif action == "delete":
        await promo.delete(code)
    text, markup = _promo_section(texts, promo, catalog)
    await _show(query, bot, text, markup)


def _skip_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_skip"), callback_data=AdminPromo(action="skip"))
    return builder.as_markup()


@router.message(StateFilter(PromoWizard), F.text, ~F.text.startswith("/"))
async def promo_wizard_step(
    message: Message,
    bot: Bot,
    texts: Texts,
    promo: PromoService,
    catalog: Catalog,
    state: FSMContext,
) -> None:
    """A typed answer to the current promo-wizard step."""
    value = (message.text or "").strip()
    current = await state.get_state()
    if current == PromoWizard.code:
        await state.update_data(code=value.upper())
        await state.set_state(PromoWizard.plan)
        builder = InlineKeyboardBuilder()
        for plan in catalog.on_sale:
            builder.button(text=plan.name, callback_data=AdminPromo(action="plan", code=plan.id))
        builder.adjust(2)
        await message.answer(
            texts("admin_promo_wizard_plan", code=value.upper()), reply_markup=builder.as_markup()
        )
    elif current in (PromoWizard.days, PromoWizard.uses):
        if not value.isdigit() or int(value) < 1:
            await message.answer(texts("admin_number_expected"))
            return
        if current == PromoWizard.days:
            await state.update_data(days=int(value))
            await state.set_state(PromoWizard.uses)
            await message.answer(
                texts("admin_promo_wizard_uses"), reply_markup=_skip_keyboard(texts)
            )
        else:
            await state.update_data(max_uses=int(value))
            await _ask_date(bot, message.chat.id, texts, state)
    elif current == PromoWizard.date:
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            await message.answer(texts("admin_date_expected"))
            return
        await _finish_wizard(bot, message.chat.id, date, texts, promo, catalog, state)


async def _ask_date(bot: Bot, chat_id: int, texts: Texts, state: FSMContext) -> None:
    await state.set_state(PromoWizard.date)
    await bot.send_message(
        chat_id, texts("admin_promo_wizard_date"), reply_markup=_skip_keyboard(texts)
    )


async def _finish_wizard(
    bot: Bot,
    chat_id: int,
    date: dt.date | None,
    texts: Texts,
    promo: PromoService,
    catalog: Catalog,
    state: FSMContext,
) -> None:
    data = await state.get_data()
    await state.clear()
    try:
        created = await promo.create(
            data["code"],
            data["plan_id"],
            data["days"],
            created_by=chat_id,
            max_uses=data.get("max_uses"),
            valid_until=date,
        )
    except PromoError as error:
        await bot.send_message(chat_id, texts(f"admin_promo_{error.reason}", code=data["code"]))
        return
    await bot.send_message(
        chat_id,
        texts(
            "admin_promo_created",
            code=created.code,
            plan=catalog.plans_by_id[created.plan_id].name,
            days=created.days,
            max_uses=created.max_uses or texts("no_limit"),
            until=created.valid_until or texts("no_date"),
        ),
    )
