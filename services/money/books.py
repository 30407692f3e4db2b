"""The money services wired together over one store and loaded from its live set: the
one wiring start-up and the tests share (the referral reward and refund rules included)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.catalog import Catalog
from services.money.outbox import OutboxService
from services.money.payments import PaymentService
from services.money.promo import PromoService
from services.money.referrals import ReferralService
from services.money.subscriptions import SubscriptionService
from services.money.sync import MoneySync
from services.storage.base import MoneyState, Retention, Storage


@dataclass(slots=True)
class MoneyBooks:
    storage: Storage
    sync: MoneySync
    subscriptions: SubscriptionService
    promo: PromoService
    outbox: OutboxService
    payments: PaymentService
    referrals: ReferralService


async def open_books(
    storage: Storage,
    state: MoneyState,
    catalog: Catalog,
    retention: Retention,
    *,
    zone: ZoneInfo,
    invoice_ttl: float,
) -> MoneyBooks:
    """Every money service, loaded from `state` (what `storage.load_money()` returned),
    each taking in other processes' commits through one MoneySync."""
    sync = MoneySync(storage)
    subscriptions = SubscriptionService(storage, catalog, sync)
    subscriptions.load(state.subscriptions)
    promo = PromoService(storage, subscriptions, zone, sync)
    await promo.load(state.promo_codes, state.promo_activations)
    outbox = OutboxService(storage, sync)
    outbox.load(state.outbox)
    payments = PaymentService(
        storage, subscriptions, retention, invoice_ttl=invoice_ttl, outbox=outbox, sync=sync
    )
    referrals = ReferralService(storage, subscriptions, catalog, sync)
    referrals.load(state.referral_codes, state.referrals)
    payments.credit_rules.append(referrals.stage_reward)
    payments.refund_rules.append(referrals.stage_refund)
    payments.credit_listeners.append(referrals.on_credit)
    await payments.load(state.payments, state.unmatched, state.stars_subscriptions)
    for service in (subscriptions, promo, outbox, payments, referrals):
        sync.add(service.absorb)
    return MoneyBooks(storage, sync, subscriptions, promo, outbox, payments, referrals)
