"""Payments: confirm or reject an SBP payment, by button and by command (refunds are in
`refunds`, the lists, totals and CSV in `payment_reports`)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from edge.admin_keyboards import default_reason_keyboard
from edge.callbacks import AdminPayment, PaymentAct
from edge.editing import remove_buttons
from edge.states import RejectReason
from services.money.payments import PaymentError, PaymentRefusal, PaymentService
from texts import Texts

router = Router(name=__name__)


# The two decisions, shared by commands and buttons ------------------------------------------------
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
        return texts(
            "admin_already_decided",
            payment_id=payment.id,
            status=texts(f"admin_status_{payment.status}"),
        )
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
        return texts(
            "admin_already_decided",
            payment_id=existing.id,
            status=texts(f"admin_status_{existing.status}"),
        )
    return texts("admin_rejected", payment_id=payment.id, reason=reason)  # the user: outbox


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
