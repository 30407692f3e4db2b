"""After an SBP invoice: only what the user marks as the receipt reaches the managers (the
admins), who confirm or reject it (handlers.admin.payments).

"Send receipt" arms the step (with Cancel): the next photo or file is the receipt. A
photo or file sent after the invoice without it is asked about first ("is this the
receipt?"): "yes" sends it, "no" hands it to the model as a question (`edge.replay`) and
no later one is asked about. Text is always a question. "Payment sent" without a receipt
tells the managers there is none, and the user what happens next."""

from __future__ import annotations

import time
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from config import Settings
from edge.admin_keyboards import sbp_decision_keyboard
from edge.callbacks import SbpAct, SbpPaid, SbpStep
from edge.editing import show
from edge.keyboards import pay_again_keyboard, receipt_prompt_keyboard, receipt_question_keyboard
from edge.middlewares import Turn
from edge.notifier import Notifier
from edge.replay import HeldMessage, hold, replay
from edge.states import SbpReceipt
from services.models import Payment, UserRecord
from services.money.payments import RECEIPTS_PER_INVOICE, PaymentService, payment_ref
from texts import Texts

router = Router(name=__name__)

ARMED_SECONDS = 30 * 60.0  # "Send receipt" arms the step this long; later, a photo is asked about
HELD_MESSAGES = 10  # photos or files kept while "is this the receipt?" waits for its answer
Reply = tuple[str, InlineKeyboardMarkup | None]  # what the user is told, with its buttons


def takes_receipt(payment: Payment | None, user_id: int) -> bool:
    """The user's own SBP invoice, still open (or expired: money may come late), that has
    no receipt with the managers yet."""
    return (
        payment is not None
        and payment.user_id == user_id
        and payment.method == "sbp"
        and payment.status in ("pending", "expired")
        and payment.receipts < RECEIPTS_PER_INVOICE
    )


async def _after_invoice(
    message: Message, state: FSMContext, payments: PaymentService, raw_state: str | None = None
) -> dict[str, Any] | bool:
    """Filter: a photo or file sent after an SBP invoice that still takes a receipt (or
    the rest of an album that was the receipt); gives the handler the `invoice` and
    whether the user pressed "Send receipt" (`armed`)."""
    album = message.media_group_id
    after_invoice = raw_state in (SbpReceipt.offered.state, SbpReceipt.armed.state)
    if not (message.photo or message.document) or not (after_invoice or album):
        return False
    data = await state.get_data()
    if album is not None and album == data.get("receipt_album"):
        return {"invoice": None, "armed": False}  # the handler drops it
    if not after_invoice:
        return False
    invoice = payments.get(str(data.get("payment_id", "")))
    if message.from_user is None or not takes_receipt(invoice, message.from_user.id):
        return False
    armed_at = float(data.get("armed_at", 0.0))
    armed = raw_state == SbpReceipt.armed.state and time.time() - armed_at < ARMED_SECONDS
    return {"invoice": invoice, "armed": armed}


# A photo or file after the invoice ---------------------------------------------------------
@router.message(F.chat.type == "private", _after_invoice)
async def receipt_or_question(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    notifier: Notifier,
    settings: Settings,
    state: FSMContext,
    turn: Turn,
    invoice: Payment | None,
    armed: bool,
) -> None:
    """Armed: the receipt, to the managers. Otherwise held, and the user asked."""
    await turn.wait()  # an album's photos one after another: one question for them all
    data = await state.get_data()
    album = message.media_group_id
    if invoice is None or (album is not None and album == data.get("receipt_album")):
        return  # the rest of the album that was the receipt: the managers have its first
    if armed:
        await state.set_state(None)
        await state.update_data(receipt_album=album)
        text, markup = await _send_to_manager(
            bot, user, texts, payments, notifier, settings, invoice.id, message
        )
        await message.reply(text, reply_markup=markup)
        return
    held: dict[str, list[HeldMessage]] = dict(data.get("held", {}))
    albums: dict[str, str] = dict(data.get("albums", {}))
    if album is not None and albums.get(album) in held:
        held[albums[album]].append(hold(message))  # asked about with its album's first
        await state.update_data(held=held)
        return
    key = str(message.message_id)
    held[key] = [hold(message)]
    if album is not None:
        albums[album] = key
    for oldest in list(held)[:-HELD_MESSAGES]:
        del held[oldest]
    albums = {group: first for group, first in albums.items() if first in held}
    await state.update_data(held=held, albums=albums)
    await message.reply(
        texts("pay_sbp_is_receipt", number=payment_ref(invoice)),
        reply_markup=receipt_question_keyboard(invoice.id, message.message_id, texts),
    )


async def _take_held(state: FSMContext, key: int) -> list[HeldMessage]:
    """The messages held under a question (taken out of the FSM data), or [] if gone."""
    data = await state.get_data()
    held: dict[str, list[HeldMessage]] = dict(data.get("held", {}))
    messages = held.pop(str(key), [])
    await state.update_data(held=held)
    return messages


@router.callback_query(SbpStep.filter(F.action == SbpAct.YES))
async def receipt_yes(
    query: CallbackQuery,
    callback_data: SbpStep,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    notifier: Notifier,
    settings: Settings,
    state: FSMContext,
) -> None:
    """ "Yes, it is the receipt": the held photo or file to the managers."""
    held = await _take_held(state, callback_data.held)
    if not held:
        await query.answer(texts("pay_sbp_held_gone"), show_alert=True)
        return
    await query.answer()
    await state.set_state(None)  # the receipt is in: nothing more to ask about
    receipt = held[0]
    await state.update_data(receipt_album=receipt.get("media_group_id"))
    text, markup = await _send_to_manager(
        bot,
        user,
        texts,
        payments,
        notifier,
        settings,
        callback_data.payment_id,
        (int(receipt["chat"]["id"]), int(receipt["message_id"])),
    )
    await show(query, bot, text, markup)


@router.callback_query(SbpStep.filter(F.action == SbpAct.NO))
async def receipt_no(query: CallbackQuery, **data: Any) -> None:
    """ "No, it is a question": the held photo or file goes to the model as if just sent,
    and later ones are not asked about. Takes the whole context (`data`) to hand it on."""
    callback_data: SbpStep = data["callback_data"]
    texts: Texts = data["texts"]
    state: FSMContext = data["state"]
    bot: Bot = data["bot"]
    dispatcher: Dispatcher = data["dispatcher"]
    held = await _take_held(state, callback_data.held)
    if not held:
        await query.answer(texts("pay_sbp_held_gone"), show_alert=True)
        return
    await query.answer()
    await state.set_state(None)
    await show(query, bot, texts("pay_sbp_not_receipt"))
    await replay(dispatcher, bot, held, state, data)


# The invoice's buttons --------------------------------------------------------------------
@router.callback_query(SbpStep.filter(F.action == SbpAct.SEND_RECEIPT))
async def send_receipt_button(
    query: CallbackQuery,
    callback_data: SbpStep,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    state: FSMContext,
) -> None:
    """ "Send receipt": the next photo or file is the receipt (Cancel undoes it)."""
    payment = await payments.find(callback_data.payment_id)
    if payment is None or payment.user_id != user.id or payment.method != "sbp":
        await query.answer(texts("pay_not_found"), show_alert=True)
        return
    if payment.status not in ("pending", "expired"):
        await query.answer()
        text, markup = closed_invoice(payment, texts)
        await bot.send_message(user.id, text, reply_markup=markup)
        return
    if not takes_receipt(payment, user.id):
        text = texts("pay_sbp_already_sent", number=payment_ref(payment))
        await query.answer(text, show_alert=True)
        return
    await query.answer()
    await state.set_state(SbpReceipt.armed)
    await state.update_data(payment_id=payment.id, armed_at=time.time())
    await bot.send_message(
        user.id,
        texts("pay_sbp_receipt_prompt", number=payment_ref(payment)),
        reply_markup=receipt_prompt_keyboard(payment.id, texts),
    )


@router.callback_query(SbpStep.filter(F.action == SbpAct.CANCEL))
async def cancel_receipt_button(
    query: CallbackQuery, callback_data: SbpStep, bot: Bot, texts: Texts, state: FSMContext
) -> None:
    """Cancel under "send the receipt": a photo or file is asked about again."""
    await query.answer()
    data = await state.get_data()
    if (
        await state.get_state() == SbpReceipt.armed.state
        and data.get("payment_id") == callback_data.payment_id
    ):
        await state.set_state(SbpReceipt.offered)
    await show(query, bot, texts("pay_sbp_receipt_canceled"))


@router.callback_query(SbpPaid.filter())
async def sbp_paid_button(
    query: CallbackQuery,
    callback_data: SbpPaid,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    notifier: Notifier,
    settings: Settings,
) -> None:
    """ "Payment sent", without a receipt: the managers are told there is none."""
    await query.answer()
    text, markup = await _send_to_manager(
        bot, user, texts, payments, notifier, settings, callback_data.payment_id, None
    )
    await bot.send_message(user.id, text, reply_markup=markup)


# To the managers --------------------------------------------------------------------------
async def _send_to_manager(
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    notifier: Notifier,
    settings: Settings,
    payment_id: str,
    receipt: Message | tuple[int, int] | None,
) -> Reply:
    """The request (and its receipt: a message, or its chat and message id) to every
    admin, each in their language, with the buttons to decide; what to tell the user."""
    payment = await payments.find(payment_id)
    if payment is None or payment.user_id != user.id or payment.method != "sbp":
        return texts("pay_not_found"), None
    if payment.status not in ("pending", "expired"):  # an expired invoice may be paid late
        return closed_invoice(payment, texts)
    number = payment_ref(payment)
    if await payments.take_receipt(payment.id, attached=receipt is not None) is None:
        return texts("pay_sbp_already_sent", number=number), None
    if isinstance(receipt, Message):
        receipt = (receipt.chat.id, receipt.message_id)
    plan = payments.plan_of(payment)
    for admin_id in notifier.admin_ids:
        admin_texts = await notifier.texts_for(admin_id)
        if receipt is not None:
            await notifier.copy(bot, admin_id, *receipt)
        text = admin_texts(
            "admin_sbp_request",
            payment_id=payment.id,
            number=number,
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
    hours = f"{settings.sbp_confirm_hours:g}"
    key = "pay_sbp_sent" if receipt is not None else "pay_sbp_sent_no_receipt"
    return texts(key, number=number, hours=hours), None


def _user_label(user: UserRecord) -> str:
    return f"@{user.username}" if user.username else user.first_name or str(user.id)


def closed_invoice(payment: Payment, texts: Texts) -> Reply:
    """What a closed invoice's buttons answer: its status in words, and what to do now."""
    number = payment_ref(payment)
    if payment.status == "paid":
        return texts("pay_already_paid"), None
    if payment.status == "refunded":
        return texts("pay_closed_refunded", number=number), pay_again_keyboard(
            payment.plan_id, texts
        )
    return texts("pay_closed_rejected", number=number), pay_again_keyboard(payment.plan_id, texts)
