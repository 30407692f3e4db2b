"""Telegram Stars subscriptions: the link to one (it renews itself every 30 days), and
/profile's "Cancel renewal" and "Resume renewal" under it."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, LabeledPrice, Message

from config import Settings
from edge import stars
from edge.callbacks import PayMethod, PayWith, Renewal, RenewalAct
from edge.keyboards import link_keyboard, offers_stars_subscription, profile_keyboard
from edge.views import running_renewals
from services.catalog import Catalog
from services.models import StarsSubscription, UserRecord
from services.money.payments import (
    STARS_SUBSCRIPTION_PERIOD,
    PaymentError,
    PaymentRefusal,
    PaymentService,
)
from services.money.subscriptions import SubscriptionService
from texts import Texts, format_moment

logger = logging.getLogger(__name__)
router = Router(name=__name__)


@router.callback_query(PayWith.filter(F.method == PayMethod.STARS_MONTHLY))
async def pay_with_stars_monthly(
    query: CallbackQuery,
    callback_data: PayWith,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
) -> None:
    """ "Stars, renews monthly": a link to a Telegram Stars subscription (every 30 days).

    Its payload names the subscription record; each charge arrives as a successful_payment
    carrying it (see `successful_payment`)."""
    plan = catalog.plans_by_id.get(callback_data.plan_id)
    if plan is None or plan.retired or not offers_stars_subscription(plan):
        await query.answer(texts("pay_not_configured"), show_alert=True)
        return
    try:
        record = await payments.open_subscription(user.id, plan.id)
    except PaymentError as error:
        if error.reason is not PaymentRefusal.ALREADY_RENEWING:
            raise
        await query.answer(texts("stars_sub_already", plan=plan.name), show_alert=True)
        return
    await query.answer()
    link = await bot.create_invoice_link(
        title=texts("stars_sub_title", plan=plan.name),
        description=texts("stars_description", models=catalog.model_names(plan)),
        payload=record.id,
        currency="XTR",
        prices=[LabeledPrice(label=plan.name, amount=record.stars)],
        provider_token="",
        subscription_period=STARS_SUBSCRIPTION_PERIOD,
    )
    await bot.send_message(
        user.id,
        texts("stars_sub_offer", plan=plan.name, stars=record.stars, days=plan.days),
        reply_markup=link_keyboard(texts("btn_stars_sub_pay", stars=record.stars), link),
    )


@router.callback_query(Renewal.filter())
async def change_renewal(
    query: CallbackQuery,
    callback_data: Renewal,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
    subscriptions: SubscriptionService,
    settings: Settings,
) -> None:
    """/profile's "Cancel renewal" / "Resume renewal": editUserStarSubscription with the
    subscription's first charge id, then recorded. The plan runs to its end either way."""
    cancel = callback_data.action == RenewalAct.CANCEL
    try:
        record = payments.begin_renewal_change(
            user.id, callback_data.subscription_id, cancel=cancel
        )
    except PaymentError as error:
        current = payments.stars_subscription(callback_data.subscription_id)
        if error.reason is PaymentRefusal.UNCHANGED and current is not None:
            await query.answer()
            await _renewal_changed(
                query, bot, user, texts, catalog, payments, subscriptions, settings, current
            )
            return
        busy = error.reason is PaymentRefusal.IN_PROGRESS
        key = "renewal_busy" if busy else "renewal_not_running"
        await query.answer(texts(key), show_alert=True)
        return
    try:
        assert record.first_charge_id is not None  # a running subscription has one
        try:
            await stars.set_renewal(bot, user.id, record.first_charge_id, canceled=cancel)
        except stars.StarsCallError as error:  # refused, or 5xx / 429: the user may try again
            logger.warning("editUserStarSubscription for %s failed: %s", record.id, error.message)
            await query.answer(texts("renewal_failed", error=error.message)[:200], show_alert=True)
            return
        record = await payments.set_renewal(record.id, canceled=cancel)
    finally:
        payments.end_renewal_change(record.id)
    await query.answer()
    await _renewal_changed(
        query, bot, user, texts, catalog, payments, subscriptions, settings, record
    )


async def _renewal_changed(
    query: CallbackQuery,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    payments: PaymentService,
    subscriptions: SubscriptionService,
    settings: Settings,
    record: StarsSubscription,
) -> None:
    """Show the pressed message's buttons as they are now, and tell the user the
    renewal's state."""
    if isinstance(query.message, Message):
        markup = profile_keyboard(running_renewals(payments, catalog, user.id), texts)
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=markup)
    plan = catalog.plans_by_id.get(record.plan_id)
    ends = [
        item.end for item in subscriptions.active_plans(user.id) if item.plan.id == record.plan_id
    ]
    end = ends[0] if ends else record.expires_at or 0.0
    await bot.send_message(
        user.id,
        texts(
            "renewal_canceled" if record.canceled else "renewal_resumed",
            plan=plan.name if plan is not None else record.plan_id,
            end=format_moment(end, settings.zone),
            date=format_moment(record.expires_at or 0.0, settings.zone),
            stars=record.stars,
        ),
    )
