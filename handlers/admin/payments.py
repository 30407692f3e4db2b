"""Payments: pending list, confirm / reject SBP, refunds, totals, money not credited, CSV."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, FSInputFile, Message

from config import Settings
from edge.admin_keyboards import default_reason_keyboard, payments_section_keyboard
from edge.callbacks import AdminMenu, AdminPayment, PaymentAct, Section
from edge.editing import remove_buttons
from edge.long_messages import send_long, show_screen
from edge.outbox import OutboxWorker, Outcome, RunResult
from edge.states import RejectReason
from edge.views import METHOD_NAMES, payment_line, revenue_lines
from services.chat.formatting import fit_screen
from services.models import Payment
from services.money.payments import PaymentError, PaymentRefusal, PaymentService
from services.operator.admin_input import echo
from services.operator.reports import Revenue, export_payments, revenue_report
from texts import Raw, Texts

router = Router(name=__name__)

RECENT = 15  # paid payments listed
PENDING_LISTED = 20  # in /payments (all are counted)
UNMATCHED_LISTED = 50  # money not credited: each needs a decision, so list them all but a flood
PENDING_IN_SECTION = 10
MONTHS_IN_SECTION = 12  # revenue by month on the panel (the CSV has every payment)


# The decisions, shared by commands and buttons ------------------------------------------------
async def confirm_payment(
    payment_id: str, admin_id: int, texts: Texts, payments: PaymentService
) -> str:
    try:
        await payments.confirm(payment_id, decided_by=admin_id)
    except PaymentError as error:
        payment = await payments.find(payment_id)
        if payment is None:
            return texts("pay_not_found")
        if error.reason is PaymentRefusal.NOT_BY_HAND:
            return texts("admin_confirm_not_sbp", payment_id=payment.id, method=payment.method)
        return texts("admin_already_decided", payment_id=payment.id, status=payment.status)
    return texts("admin_confirmed", payment_id=payment_id)


async def reject_payment(
    payment_id: str, reason: str, admin_id: int, texts: Texts, payments: PaymentService
) -> str:
    try:
        payment = await payments.reject(payment_id, reason=reason, decided_by=admin_id)
    except PaymentError:
        existing = await payments.find(payment_id)
        if existing is None:
            return texts("pay_not_found")
        return texts("admin_already_decided", payment_id=existing.id, status=existing.status)
    return texts("admin_rejected", payment_id=payment.id, reason=reason)  # the user: outbox


async def refund_payment(
    payment_id: str,
    admin_id: int,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    worker: OutboxWorker,
) -> str:
    """Return a Stars payment and take its unused period back: the request is saved
    first, then done now through the outbox (retried there if Telegram fails)."""
    payment = await payments.find(payment_id)
    if payment is None:
        return texts("pay_not_found")
    try:
        item = await payments.request_refund(payment.id, decided_by=admin_id)
    except PaymentError as error:
        if error.reason is PaymentRefusal.ONLY_STARS:
            return texts("admin_refund_only_stars")
        if error.reason is PaymentRefusal.IN_PROGRESS:
            return texts("admin_refund_in_progress", payment_id=payment.id)
        return texts("admin_already_decided", payment_id=payment.id, status=payment.status)
    return refund_outcome(await worker.run(bot, item.id), payment.id, texts)


async def refund_unmatched(
    money_id: str,
    admin_id: int,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    worker: OutboxWorker,
) -> str:
    """Return Stars that arrived for no open invoice (once; through the outbox)."""
    try:
        item = await payments.request_unmatched_refund(money_id, decided_by=admin_id)
    except PaymentError as error:
        if error.reason is PaymentRefusal.IN_PROGRESS:
            return texts("admin_refund_in_progress", payment_id=money_id)
        return texts("admin_settle_unknown", money_id=money_id)
    result = await worker.run(bot, item.id)
    if result is not None and result.outcome is Outcome.DONE:
        return texts("admin_settled", money_id=money_id)
    return refund_outcome(result, money_id, texts)


def refund_outcome(result: RunResult | None, payment_id: str, texts: Texts) -> str:
    """What the admin reads after a refund's first try, with its renewal's cancel."""
    if result is None:  # done meanwhile by the background worker
        return texts("admin_refunded", payment_id=payment_id)
    if result.outcome is Outcome.FAILED:
        return texts("admin_refund_failed", error=result.error or "")
    if result.outcome is Outcome.RETRYING:
        return texts("admin_refund_retrying", error=result.error or "")
    lines = [texts("admin_refunded", payment_id=payment_id)]
    for follow_up in result.follow_ups:
        if follow_up.item.kind != "cancel_renewal":
            continue
        key = {
            Outcome.DONE: "admin_refund_renewal_stopped",
            Outcome.RETRYING: "admin_refund_renewal_retrying",
            Outcome.FAILED: "admin_refund_renewal_failed",
        }[follow_up.outcome]
        lines.append(texts(key, error=follow_up.error or ""))
    return "\n".join(lines)


def _sender_id(message: Message) -> int:
    return message.from_user.id if message.from_user else 0


# Buttons under an SBP request -----------------------------------------------------------------
@router.callback_query(AdminPayment.filter(F.action == PaymentAct.CONFIRM))
async def confirm_button(
    query: CallbackQuery,
    callback_data: AdminPayment,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
) -> None:
    """Confirm under an SBP request or in the pending list."""
    await query.answer()
    text = await confirm_payment(callback_data.payment_id, query.from_user.id, texts, payments)
    await bot.send_message(query.from_user.id, text)
    await remove_buttons(query)


@router.callback_query(AdminPayment.filter(F.action == PaymentAct.REJECT))
async def reject_button(
    query: CallbackQuery,
    callback_data: AdminPayment,
    bot: Bot,
    texts: Texts,
    state: FSMContext,
) -> None:
    """Reject: ask for the reason (or offer the default one)."""
    await query.answer()
    payment_id = callback_data.payment_id
    await state.set_state(RejectReason.waiting)
    await state.update_data(payment_id=payment_id)
    await bot.send_message(
        query.from_user.id,
        texts("admin_reject_ask", payment_id=payment_id),
        reply_markup=default_reason_keyboard(payment_id, texts),
    )


@router.callback_query(AdminPayment.filter(F.action == PaymentAct.DEFAULT))
async def reject_with_default_reason(
    query: CallbackQuery,
    callback_data: AdminPayment,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    state: FSMContext,
) -> None:
    """The default reason's button after Reject."""
    await query.answer()
    await state.clear()
    text = await reject_payment(
        callback_data.payment_id, texts("admin_default_reason"), query.from_user.id, texts, payments
    )
    await bot.send_message(query.from_user.id, text)
    await remove_buttons(query)


@router.message(RejectReason.waiting, F.text, ~F.text.startswith("/"))
async def reject_reason(
    message: Message, texts: Texts, payments: PaymentService, state: FSMContext
) -> None:
    """The reason typed after pressing Reject."""
    data = await state.get_data()
    await state.clear()
    reason = (message.text or "").strip()[:500]
    await message.answer(
        await reject_payment(data["payment_id"], reason, _sender_id(message), texts, payments)
    )


# Commands -----------------------------------------------------------------------------------------
@router.message(Command("confirm"))
async def confirm_command(
    message: Message, command: CommandObject, texts: Texts, payments: PaymentService
) -> None:
    """/confirm PAYMENT_ID: confirm an SBP payment (or YooMoney money that arrived short)."""
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(texts("admin_payment_usage", command="confirm"))
        return
    await message.answer(await confirm_payment(args[0], _sender_id(message), texts, payments))


@router.message(Command("reject"))
async def reject_command(
    message: Message,
    command: CommandObject,
    texts: Texts,
    payments: PaymentService,
) -> None:
    """/reject PAYMENT_ID [REASON]: reject a pending payment."""
    args = (command.args or "").split(maxsplit=1)
    if not args:
        await message.answer(texts("admin_payment_usage", command="reject"))
        return
    reason = args[1].strip() if len(args) == 2 else texts("admin_default_reason")
    await message.answer(
        await reject_payment(args[0], reason, _sender_id(message), texts, payments)
    )


@router.message(Command("refund"))
async def refund_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    outbox_worker: OutboxWorker,
) -> None:
    """/refund PAYMENT_ID, or /refund stars:CHARGE for Stars listed as not credited."""
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(texts("admin_payment_usage", command="refund"))
        return
    admin_id = _sender_id(message)
    if args[0].startswith("stars:"):
        text = await refund_unmatched(args[0], admin_id, bot, texts, payments, outbox_worker)
    else:
        text = await refund_payment(args[0], admin_id, bot, texts, payments, outbox_worker)
    await message.answer(text)


@router.message(Command("settle"))
async def settle_command(
    message: Message, command: CommandObject, texts: Texts, payments: PaymentService
) -> None:
    """/settle ID: mark money that was not credited as handled."""
    money_id = (command.args or "").strip()
    if not money_id:
        await message.answer(texts("admin_settle_usage"))
        return
    try:
        await payments.resolve_unmatched(money_id, decided_by=_sender_id(message))
    except PaymentError:
        await message.answer(texts("admin_settle_unknown", money_id=echo(money_id)))
        return
    await message.answer(texts("admin_settled", money_id=money_id))


def _listed(lines: list[str], limit: int, texts: Texts) -> Raw:
    """The newest `limit` lines, and how many older ones are left out."""
    shown = lines[-limit:]
    older = [texts("admin_list_older", count=len(lines) - len(shown))] if shown != lines else []
    return Raw("\n".join(older + shown) or texts("none"))


def _totals(total: Revenue, texts: Texts) -> str:
    return texts(
        "admin_payments_total",
        rub=f"{total.rub:g}",
        stars=f"{total.stars:g}",
        count=total.count,
    )


@router.message(Command("payments"))
async def payments_command(
    message: Message, bot: Bot, texts: Texts, payments: PaymentService, settings: Settings
) -> None:
    """/payments: pending, recent and not credited payments, with all-time totals (in
    several messages when long)."""
    pending = payments.with_status("pending")
    recent = sorted(payments.with_status("paid"), key=lambda p: p.paid_at or 0)[-RECENT:]
    unmatched = payments.unmatched()
    report = await revenue_report(payments.history(), settings.zone)

    def lines(items: list[Payment]) -> list[str]:
        return [payment_line(p, texts, settings.zone) for p in items]

    unmatched_lines = [
        texts(
            "admin_unmatched_line",
            money_id=item.id,
            amount=f"{item.amount:g} {item.currency}",
            payment_id=item.payment_id or "—",
            user_id=item.user_id or "—",
            reason=item.reason,
        )
        for item in unmatched
    ]
    text = texts(
        "admin_payments",
        pending=len(pending),
        pending_list=_listed(lines(pending), PENDING_LISTED, texts),
        paid_list=_listed(lines(recent), RECENT, texts),
        unmatched=len(unmatched),
        unmatched_list=_listed(unmatched_lines, UNMATCHED_LISTED, texts),
        total=Raw(_totals(report.total, texts)),
    )
    await send_long(bot, message.chat.id, text)


# The panel's section ---------------------------------------------------------------------------
@router.callback_query(AdminMenu.filter(F.section == Section.PAYMENTS))
async def payments_section(
    query: CallbackQuery, bot: Bot, texts: Texts, payments: PaymentService, settings: Settings
) -> None:
    """The panel's "Payments": pending ones, revenue by day, month and method, the totals.
    Pending ones that do not fit follow as messages; the totals stay on the screen."""
    await query.answer()
    report = await revenue_report(payments.history(), settings.zone)
    week_ago = (dt.datetime.now(settings.zone) - dt.timedelta(days=6)).date().isoformat()
    months = dict(sorted(report.by_month.items())[-MONTHS_IN_SECTION:])
    pending = payments.with_status("pending")[-PENDING_IN_SECTION:]
    items = [
        texts(
            "admin_pending_item",
            payment_id=p.id,
            method=METHOD_NAMES.get(p.method, p.method),
            plan=p.plan_id,
            amount=f"{p.amount:g}",
            user_id=p.user_id,
            receipt=texts("admin_pending_receipt") if p.receipt_sent else "",
        )
        for p in pending
    ]

    def render(shown: Sequence[str], left_out: int) -> str:
        below = [texts("admin_list_below", count=left_out)] if left_out else []
        return texts(
            "admin_payments_section",
            pending=Raw("\n".join([*shown, *below]) or texts("none")),
            by_day=Raw(
                revenue_lines({k: v for k, v in report.by_day.items() if k >= week_ago}, texts)
            ),
            by_month=Raw(revenue_lines(months, texts)),
            by_method=Raw(revenue_lines(report.by_method, texts)),
            total=Raw(_totals(report.total, texts)),
        )

    screen = fit_screen(render, items)
    await show_screen(query, bot, screen, payments_section_keyboard(pending, texts))


@router.callback_query(AdminMenu.filter(F.section == Section.EXPORT))
async def export_csv(
    query: CallbackQuery, bot: Bot, payments: PaymentService, settings: Settings
) -> None:
    """ "Export CSV": every payment, streamed into files under Telegram's upload limit."""
    await query.answer()
    with tempfile.TemporaryDirectory() as folder:
        stem = f"payments-{dt.datetime.now(settings.zone).date().isoformat()}"
        files = await export_payments(payments.history(), settings.zone, Path(folder), stem)
        for path in files:
            await bot.send_document(query.from_user.id, FSInputFile(path, filename=path.name))
