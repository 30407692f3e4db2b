"""/profile's "Cancel renewal" and "Resume renewal" under a Telegram Stars subscription."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from config import Settings
from edge import stars
from edge.callbacks import Renewal, RenewalAct
from edge.keyboards import renewal_keyboard
from edge.views import running_renewals
from services.catalog import Catalog
from services.models import StarsSubscription, UserRecord
from services.money.payments import PaymentError, PaymentService
from services.money.subscriptions import SubscriptionService
from texts import Texts, format_moment

logger = logging.getLogger(__name__)
router = Router(name=__name__)


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
        if error.reason == "unchanged" and current is not None:
            await query.answer()
            await _renewal_changed(
                query, bot, user, texts, catalog, payments, subscriptions, settings, current
            )
            return
        key = "renewal_busy" if error.reason == "in_progress" else "renewal_not_running"
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
        markup = renewal_keyboard(running_renewals(payments, catalog, user.id), texts)
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
