"""Buying a plan: the methods, a YooMoney link, SBP's requisites, a Telegram Stars
invoice, and Stars payments as Telegram confirms them. What follows an SBP invoice is in
`sbp`; a Stars subscription (renewing every 30 days) in `renewals`."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)

from config import Settings
from edge.callbacks import BuyPlan, CheckPayment, PayAgain, PayMethod, PayWith
from edge.editing import show
from edge.keyboards import (
    payment_methods_keyboard,
    sbp_keyboard,
    yoomoney_keyboard,
)
from edge.shop import extends_line, plan_heading
from edge.states import SbpReceipt
from services.catalog import Catalog, Plan
from services.models import Payment, UserRecord
from services.money.payments import (
    RECEIPTS_PER_INVOICE,
    MoneyArrival,
    PaymentService,
    payment_ref,
)
from services.money.subscriptions import SubscriptionService
from services.money.yoomoney import YooMoneyChecker, quickpay_url
from texts import Texts

router = Router(name=__name__)


def _methods(
    plan: Plan,
    texts: Texts,
    yoomoney: YooMoneyChecker,
    settings: Settings,
    shown: PayMethod | None = None,
    above: InlineKeyboardMarkup | None = None,
) -> InlineKeyboardMarkup:
    return payment_methods_keyboard(
        plan,
        texts,
        yoomoney=yoomoney.enabled,
        sbp=bool(settings.sbp_details),
        shown=shown,
        above=above,
    )


@router.callback_query(PayAgain.filter())
@router.callback_query(BuyPlan.filter())
async def choose_method(
    query: CallbackQuery,
    callback_data: BuyPlan | PayAgain,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
    subscriptions: SubscriptionService,
    yoomoney: YooMoneyChecker,
    settings: Settings,
) -> None:
    """A plan's buy button, in place of the pressed screen (Pay again: below its notice):
    with YooMoney, its invoice at once (the other methods below it); without, the methods."""
    below = isinstance(callback_data, PayAgain)
    plan = catalog.plans_by_id.get(callback_data.plan_id)
    if plan is None or plan.retired or query.message is None:
        await query.answer()
        return
    if yoomoney.enabled:
        data = PayWith(plan_id=plan.id, method=PayMethod.YOOMONEY)
        await pay_with_yoomoney(
            query,
            data,
            bot,
            user,
            texts,
            catalog,
            payments,
            subscriptions,
            yoomoney,
            settings,
            below=below,
        )
        return
    await query.answer()
    heading = plan_heading(plan, user.id, texts, catalog, subscriptions, settings)
    text = f"{heading}\n\n{texts('pay_choose_method_ask')}"
    markup = _methods(plan, texts, yoomoney, settings)
    await show(query, bot, text, markup, preview=False, below=below)


async def _invoice(
    query: CallbackQuery,
    callback_data: PayWith,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
    available: bool,
) -> tuple[Plan, Payment] | None:
    """The user's open invoice for the pressed plan and method (the same one on a second
    press), or None after telling them the method is not available."""
    plan = catalog.plans_by_id.get(callback_data.plan_id)
    if plan is None or plan.retired or not available:
        await query.answer(texts("pay_not_configured"), show_alert=True)
        return None
    await query.answer()
    return plan, await payments.open_invoice(user.id, plan.id, callback_data.method)


@router.callback_query(PayWith.filter(F.method == PayMethod.YOOMONEY))
async def pay_with_yoomoney(
    query: CallbackQuery,
    callback_data: PayWith,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
    subscriptions: SubscriptionService,
    yoomoney: YooMoneyChecker,
    settings: Settings,
    below: bool = False,
) -> None:
    """ "YooMoney": a Quickpay link and a "check payment" button, the other methods below."""
    opened = await _invoice(query, callback_data, user, texts, catalog, payments, yoomoney.enabled)
    if opened is None:
        return
    plan, payment = opened
    me = await bot.me()
    url = quickpay_url(
        wallet=settings.ymoney_wallet or "",
        amount=payment.amount,
        label=payment.id,
        targets=f"{plan.name} ({payment.id})",
        success_url=f"https://t.me/{me.username}" if me.username else None,
    )
    invoice = texts(
        "pay_yoomoney",
        payment_id=payment.id,
        plan=plan.name,
        price=plan.price_rub,
        hours=f"{settings.payment_ttl_hours:g}",
    )
    heading = plan_heading(plan, user.id, texts, catalog, subscriptions, settings)
    own = yoomoney_keyboard(url, payment.id, plan.price_rub, texts)
    markup = _methods(plan, texts, yoomoney, settings, PayMethod.YOOMONEY, own)
    await show(query, bot, f"{heading}\n\n{invoice}", markup, preview=False, below=below)


@router.callback_query(PayWith.filter(F.method == PayMethod.SBP))
async def pay_with_sbp(
    query: CallbackQuery,
    callback_data: PayWith,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
    subscriptions: SubscriptionService,
    yoomoney: YooMoneyChecker,
    settings: Settings,
    state: FSMContext,
) -> None:
    """ "SBP": the requisites, the number for the bank's comment and how long the check
    takes; then the receipt or "payment sent" goes to the managers (`sbp`)."""
    available = bool(settings.sbp_details)
    opened = await _invoice(query, callback_data, user, texts, catalog, payments, available)
    if opened is None:
        return
    plan, payment = opened
    if payment.receipts < RECEIPTS_PER_INVOICE:  # a photo or file sent now: asked about
        await state.set_state(SbpReceipt.offered)
        await state.update_data(payment_id=payment.id)
    text = texts(
        "pay_sbp",
        number=payment_ref(payment),
        plan=plan.name,
        price=plan.price_rub,
        details=settings.sbp_details,
        hours=f"{settings.sbp_confirm_hours:g}",
    )
    extends = extends_line(user.id, plan, texts, subscriptions, settings.zone)
    text = f"{text}\n\n{extends}" if extends else text
    own = sbp_keyboard(payment.id, texts)
    await show(query, bot, text, _methods(plan, texts, yoomoney, settings, PayMethod.SBP, own))


@router.callback_query(PayWith.filter(F.method == PayMethod.STARS))
async def pay_with_stars(
    query: CallbackQuery,
    callback_data: PayWith,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
) -> None:
    """ "Stars": a Telegram Stars invoice."""
    opened = await _invoice(query, callback_data, user, texts, catalog, payments, True)
    if opened is None:
        return
    plan, payment = opened
    await bot.send_invoice(
        chat_id=user.id,
        title=texts("stars_title", plan=plan.name, days=plan.days),
        description=texts("stars_description", models=catalog.model_names(plan)),
        payload=payment.id,
        currency="XTR",
        prices=[LabeledPrice(label=plan.name, amount=plan.stars)],
        provider_token="",
    )


@router.callback_query(CheckPayment.filter())
async def check_payment(
    query: CallbackQuery,
    callback_data: CheckPayment,
    user: UserRecord,
    texts: Texts,
    payments: PaymentService,
    yoomoney: YooMoneyChecker,
) -> None:
    """ "Check payment": ask YooMoney about this invoice now."""
    payment = payments.get(callback_data.payment_id)
    if payment is None or payment.user_id != user.id:
        await query.answer(texts("pay_not_found"), show_alert=True)
        return
    if payment.status == "paid":
        await query.answer(texts("pay_already_paid"), show_alert=True)
        return
    # Too soon, or YooMoney not answering: a refusal the error handler says as an alert.
    result = await yoomoney.check_one(payment, user.id)
    # On success the user is told by the credit listener; here we only close the spinner.
    await query.answer(None if result else texts("pay_pending"), show_alert=result is None)


@router.pre_checkout_query()
async def pre_checkout(query: PreCheckoutQuery, texts: Texts, payments: PaymentService) -> None:
    """Telegram asks whether a Stars invoice may be paid (must answer within 10 s)."""
    if payments.stars_checkout_ok(
        query.invoice_payload, query.from_user.id, query.currency, query.total_amount
    ):
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=texts("stars_invalid"))


@router.message(F.successful_payment)
async def successful_payment(message: Message, texts: Texts, payments: PaymentService) -> None:
    """Telegram confirms a Stars payment: grant the plan (once per payment).

    A Stars subscription's charges (`is_recurring`: the first one and every renewal) name
    the subscription in their payload; each adds the plan's days once per charge id.
    Stars that can no longer be credited are recorded with their charge id (so they can
    be refunded) and reported to the admins. A credit that fails to be written (a full
    disk) is recorded and retried, and the user is told the plan comes shortly."""
    paid = message.successful_payment
    if paid is None:
        return
    outcome = await payments.accept_or_record(
        MoneyArrival(
            method="stars",
            external_id=paid.telegram_payment_charge_id,
            amount=float(paid.total_amount),
            currency=paid.currency,
            reference=paid.invoice_payload,
            user_id=message.from_user.id if message.from_user else None,
            recurring=bool(paid.is_recurring),
            first_recurring=bool(paid.is_first_recurring),
            expires_at=(
                float(paid.subscription_expiration_date)
                if paid.subscription_expiration_date
                else None
            ),
        )
    )
    if outcome.error is not None:
        await message.answer(texts("pay_delayed"))
