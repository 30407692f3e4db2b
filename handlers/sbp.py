"""After an SBP invoice: "I have paid" or a receipt goes to the managers (the admins),
who confirm or reject it (handlers.admin.payments)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from edge.admin_keyboards import sbp_decision_keyboard
from edge.callbacks import SbpPaid
from edge.notifier import Notifier
from edge.states import SbpReceipt
from services.models import Payment, UserRecord
from services.money.payments import PaymentService
from texts import Texts

router = Router(name=__name__)


@router.callback_query(SbpPaid.filter())
async def sbp_paid_button(
    query: CallbackQuery,
    callback_data: SbpPaid,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    notifier: Notifier,
    state: FSMContext,
) -> None:
    """ "I have paid" under an SBP invoice, without a receipt."""
    await query.answer()
    await _send_to_manager(bot, user, texts, payments, notifier, callback_data.payment_id, None)
    await state.clear()


@router.message(SbpReceipt.waiting, F.photo | F.document)
async def sbp_receipt(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    notifier: Notifier,
    state: FSMContext,
) -> None:
    """A photo or file sent after an SBP invoice: the receipt."""
    data = await state.get_data()
    await state.clear()
    await _send_to_manager(bot, user, texts, payments, notifier, data["payment_id"], message)


async def _send_to_manager(
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    notifier: Notifier,
    payment_id: str,
    receipt: Message | None,
) -> None:
    """The request (and its receipt) to every admin, each in their language, with the
    buttons to decide; the user told it was sent."""
    payment = await payments.find(payment_id)
    if payment is None or payment.user_id != user.id or payment.method != "sbp":
        await bot.send_message(user.id, texts("pay_not_found"))
        return
    if payment.status not in ("pending", "expired"):  # an expired invoice may be paid late
        await bot.send_message(user.id, _closed_text(payment, texts))
        return
    if await payments.take_receipt(payment.id, attached=receipt is not None) is None:
        await bot.send_message(user.id, texts("pay_sbp_already_sent", payment_id=payment.id))
        return
    plan = payments.plan_of(payment)
    for admin_id in notifier.admin_ids:
        admin_texts = await notifier.texts_for(admin_id)
        if receipt is not None:
            await notifier.copy(bot, admin_id, receipt.chat.id, receipt.message_id)
        text = admin_texts(
            "admin_sbp_request",
            payment_id=payment.id,
            user=_user_label(user),
            user_id=user.id,
            plan=plan.name,
            price=plan.price_rub,
            receipt=admin_texts(
                "admin_receipt_attached" if receipt is not None else "admin_receipt_none"
            ),
        )
        await notifier.send_long(
            bot, admin_id, text, sbp_decision_keyboard(payment.id, admin_texts)
        )
    await bot.send_message(user.id, texts("pay_sbp_sent"))


def _user_label(user: UserRecord) -> str:
    return f"@{user.username}" if user.username else user.first_name or str(user.id)


def _closed_text(payment: Payment, texts: Texts) -> str:
    if payment.status == "paid":
        return texts("pay_already_paid")
    return texts("pay_closed", status=payment.status)
