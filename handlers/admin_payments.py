"""Admin side of payments: confirm or reject SBP, refund Stars, list payments."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from config import Settings
from handlers.callbacks import AdminPayment
from handlers.keyboards import default_reason_keyboard
from handlers.views import payment_line, tell_user
from services.models import Payment
from services.payments import PaymentError, PaymentService
from services.reports import revenue_report
from services.users import UsersService
from texts import Raw, Texts

logger = logging.getLogger(__name__)
router = Router(name=__name__)  # included under the admin-only router (handlers/__init__.py)

RECENT_PAID = 15


class RejectReason(StatesGroup):
    waiting = State()


async def _confirm(payment_id: str, admin_id: int, texts: Texts, payments: PaymentService) -> str:
    payment = await payments.find(payment_id)
    if payment is None:
        return texts("pay_not_found")
    if payment.status not in ("pending", "expired"):  # expired -> paid: money came late
        return texts("admin_already_decided", payment_id=payment.id, status=payment.status)
    # Only SBP waits for a manager: confirming an unpaid YooMoney or Stars invoice would
    # grant a plan for free. YooMoney money that arrived short (noted) may be confirmed.
    underpaid = payment.method == "yoomoney" and payment.note is not None
    if payment.method != "sbp" and not underpaid:
        return texts("admin_confirm_not_sbp", payment_id=payment.id, method=payment.method)
    try:
        await payments.credit(payment.id, decided_by=admin_id)
    except PaymentError as error:
        return texts("admin_already_decided", payment_id=payment.id, status=error.reason)
    return texts("admin_confirmed", payment_id=payment.id)


async def _reject(
    payment_id: str,
    reason: str,
    admin_id: int,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    users: UsersService,
) -> str:
    try:
        payment = await payments.reject(payment_id, reason=reason, decided_by=admin_id)
    except PaymentError as error:
        existing = payments.get(payment_id)
        if existing is None:
            return texts("pay_not_found")
        return texts("admin_already_decided", payment_id=existing.id, status=error.reason)
    await tell_user(
        bot, users, payment.user_id, "pay_rejected", payment_id=payment.id, reason=reason
    )
    return texts("admin_rejected", payment_id=payment.id, reason=reason)


@router.callback_query(AdminPayment.filter())
async def payment_button(
    query: CallbackQuery,
    callback_data: AdminPayment,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    users: UsersService,
    state: FSMContext,
) -> None:
    """Confirm / Reject / default-reason buttons under an SBP request."""
    await query.answer()
    admin_id = query.from_user.id
    if callback_data.action == "confirm":
        text = await _confirm(callback_data.payment_id, admin_id, texts, payments)
    elif callback_data.action == "reject":
        await state.set_state(RejectReason.waiting)
        await state.update_data(payment_id=callback_data.payment_id)
        text = texts("admin_reject_ask", payment_id=callback_data.payment_id)
        await bot.send_message(
            admin_id, text, reply_markup=default_reason_keyboard(callback_data.payment_id, texts)
        )
        return
    else:
        await state.clear()
        text = await _reject(
            callback_data.payment_id,
            texts("admin_default_reason"),
            admin_id,
            bot,
            texts,
            payments,
            users,
        )
    await bot.send_message(admin_id, text)
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


@router.message(StateFilter(RejectReason.waiting), F.text, ~F.text.startswith("/"))
async def reject_reason(
    message: Message,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    users: UsersService,
    state: FSMContext,
) -> None:
    """The reason typed after pressing Reject."""
    data = await state.get_data()
    await state.clear()
    admin_id = message.from_user.id if message.from_user else 0
    reason = (message.text or "").strip()[:500]
    await message.answer(
        await _reject(data["payment_id"], reason, admin_id, bot, texts, payments, users)
    )


@router.message(Command("confirm"))
async def confirm_command(
    message: Message, command: CommandObject, texts: Texts, payments: PaymentService
) -> None:
    """/confirm PAYMENT_ID: confirm an SBP (or any pending) payment."""
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(texts("admin_payment_usage", command="confirm"))
        return
    admin_id = message.from_user.id if message.from_user else 0
    await message.answer(await _confirm(args[0], admin_id, texts, payments))


@router.message(Command("reject"))
async def reject_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    users: UsersService,
) -> None:
    """/reject PAYMENT_ID [REASON]: reject a pending payment."""
    args = (command.args or "").split(maxsplit=1)
    if not args:
        await message.answer(texts("admin_payment_usage", command="reject"))
        return
    reason = args[1].strip() if len(args) == 2 else texts("admin_default_reason")
    admin_id = message.from_user.id if message.from_user else 0
    await message.answer(await _reject(args[0], reason, admin_id, bot, texts, payments, users))


@router.message(Command("refund"))
async def refund_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    users: UsersService,
) -> None:
    """/refund PAYMENT_ID: return the Stars and take the period back; /refund stars:CHARGE
    returns Stars that arrived for no open invoice (listed in /payments)."""
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(texts("admin_payment_usage", command="refund"))
        return
    if args[0].startswith("stars:"):
        await message.answer(await _refund_unmatched(args[0], message, bot, texts, payments))
        return
    payment = await payments.find(args[0])
    if payment is None:
        await message.answer(texts("pay_not_found"))
        return
    if payment.method != "stars" or not payment.charge_id:
        await message.answer(texts("admin_refund_only_stars"))
        return
    try:
        payment = await payments.begin_refund(payment.id)  # a second tap waits its turn here
    except PaymentError:
        await message.answer(
            texts("admin_already_decided", payment_id=payment.id, status=payment.status)
        )
        return
    admin_id = message.from_user.id if message.from_user else 0
    try:
        assert payment.charge_id is not None
        try:
            await bot.refund_star_payment(payment.user_id, payment.charge_id)
        except TelegramBadRequest as error:
            if "CHARGE_ALREADY_REFUNDED" not in error.message:
                await message.answer(texts("admin_refund_failed", error=error.message))
                return
        await payments.refund(payment.id, decided_by=admin_id)
    finally:
        payments.end_refund(payment.id)
    plan = payments.plan_of(payment)
    await tell_user(
        bot, users, payment.user_id, "pay_refunded", payment_id=payment.id, plan=plan.name
    )
    await message.answer(texts("admin_refunded", payment_id=payment.id))


async def _refund_unmatched(
    money_id: str, message: Message, bot: Bot, texts: Texts, payments: PaymentService
) -> str:
    try:
        item = payments.unmatched_stars(money_id)
    except PaymentError:
        return texts("admin_settle_unknown", money_id=money_id)
    try:
        assert item.user_id is not None
        charge_id = money_id.removeprefix("stars:")
        try:
            await bot.refund_star_payment(item.user_id, charge_id)
        except TelegramBadRequest as error:
            if "CHARGE_ALREADY_REFUNDED" not in error.message:
                return texts("admin_refund_failed", error=error.message)
        admin_id = message.from_user.id if message.from_user else 0
        await payments.resolve_unmatched(money_id, decided_by=admin_id)
    finally:
        payments.end_refund(money_id)
    return texts("admin_settled", money_id=money_id)


@router.message(Command("payments"))
async def payments_command(
    message: Message, texts: Texts, payments: PaymentService, settings: Settings
) -> None:
    """/payments: pending, recent and not credited payments, with all-time totals."""
    pending = payments.with_status("pending")
    paid = payments.with_status("paid")
    unmatched = payments.unmatched()
    report = await revenue_report(payments.history(), settings.zone)

    def line(payment: Payment) -> str:
        return payment_line(payment, texts, settings.zone)

    unmatched_lines = [
        texts(
            "admin_unmatched_line",
            money_id=item.id,
            amount=f"{item.amount:g} {item.currency}",
            payment_id=item.payment_id or "—",
            user_id=item.user_id or "—",
            reason=item.reason,
        )
        for item in unmatched[-RECENT_PAID:]
    ]
    recent = sorted(paid, key=lambda p: p.paid_at or 0)[-RECENT_PAID:]
    text = texts(
        "admin_payments",
        pending=len(pending),
        pending_list=Raw("\n".join(line(p) for p in pending[-20:]) or texts("none")),
        paid_list=Raw("\n".join(line(p) for p in recent) or texts("none")),
        unmatched=len(unmatched),
        unmatched_list=Raw("\n".join(unmatched_lines) or texts("none")),
        total_rub=f"{report.total.rub:g}",
        total_stars=f"{report.total.stars:g}",
        count=report.total.count,
    )
    await message.answer(text[:4096])


@router.message(Command("settle"))
async def settle_command(
    message: Message, command: CommandObject, texts: Texts, payments: PaymentService
) -> None:
    """/settle ID: mark money that was not credited as handled (refunded, credited by hand)."""
    money_id = (command.args or "").strip()
    if not money_id:
        await message.answer(texts("admin_settle_usage"))
        return
    admin_id = message.from_user.id if message.from_user else 0
    try:
        await payments.resolve_unmatched(money_id, decided_by=admin_id)
    except PaymentError:
        await message.answer(texts("admin_settle_unknown", money_id=money_id))
        return
    await message.answer(texts("admin_settled", money_id=money_id))
