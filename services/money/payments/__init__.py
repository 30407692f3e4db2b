"""Payments by ledger behind one facade, `PaymentService`: invoices (`invoices`), money
arriving (`arrivals`) and not credited (`unmatched`), the one credit path (`credits`),
Stars subscriptions (`stars_subscriptions`) and refunds (`refunds`)."""

from services.money.payments.errors import PaymentError, PaymentRefusal
from services.money.payments.records import (
    MAX_SUBSCRIPTION_STARS,
    METHODS,
    RECEIPTS_PER_INVOICE,
    STARS_SUBSCRIPTION_PERIOD,
    ArrivalOutcome,
    CreditResult,
    MoneyArrival,
    charge_payment_id,
    payment_ref,
    unmatched_money,
)
from services.money.payments.service import PaymentService
from services.storage.base import TRANSITIONS

__all__ = [
    "MAX_SUBSCRIPTION_STARS",
    "METHODS",
    "RECEIPTS_PER_INVOICE",
    "STARS_SUBSCRIPTION_PERIOD",
    "TRANSITIONS",
    "ArrivalOutcome",
    "CreditResult",
    "MoneyArrival",
    "PaymentError",
    "PaymentRefusal",
    "PaymentService",
    "charge_payment_id",
    "payment_ref",
    "unmatched_money",
]
