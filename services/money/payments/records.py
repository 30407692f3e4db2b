"""What the payment ledgers take and return, their ids and their limits."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from services.catalog import Plan
from services.models import PAYMENT_METHODS, Payment, UnmatchedMoney, UnmatchedReason

METHODS = PAYMENT_METHODS
# A pending invoice is shown again (not replaced) while at least this much of its life is left.
REUSE_MARGIN = 3_600.0
RECEIPTS_PER_INVOICE = 1  # SBP receipts copied to the managers per invoice
RECEIPT_WAIT = 7 * 86_400.0  # an SBP invoice with a receipt expires this much later
PAYMENT_NUMBER_DIGITS = 6  # an SBP payment's number, typed into the bank's comment
NUMBER_ATTEMPTS = 1_000  # draws for a number no live payment has
SEEN_MONEY_CACHE = 100_000  # money ids looked up in the history, remembered this many
# Telegram Stars subscriptions: the one period Telegram allows (30 days) and the top price.
STARS_SUBSCRIPTION_PERIOD = 2_592_000
MAX_SUBSCRIPTION_STARS = 10_000
STARS_SUBSCRIPTION_PREFIX = "sub"  # a subscription's id (its link's payload) starts so


@dataclass(slots=True, frozen=True)
class CreditResult:
    payment: Payment
    plan: Plan
    end: float  # the plan's end after this credit
    newly_paid: bool  # False when the payment had already been credited
    renewal: bool = False  # a Stars subscription's charge after its first


@dataclass(slots=True, frozen=True)
class MoneyArrival:
    """Money a payment system reports: a YooMoney operation or a Stars charge."""

    method: Literal["yoomoney", "stars"]
    external_id: str  # operation id or telegram_payment_charge_id
    amount: float
    currency: str
    reference: str  # the label or invoice payload we gave: our payment id
    user_id: int | None = None  # who paid, where the system says (Stars)
    # Stars subscriptions: a charge of one (`is_recurring`), the first one, and the end of
    # the period it paid for (`subscription_expiration_date`).
    recurring: bool = False
    first_recurring: bool = False
    expires_at: float | None = None

    @property
    def money_id(self) -> str:
        """The arrival's id in the unmatched-money table: each is recorded once."""
        return f"{self.method}:{self.external_id}"


@dataclass(slots=True, frozen=True)
class ArrivalOutcome:
    """What became of an arrival: credited, counted toward its invoice, or recorded."""

    credit: CreditResult | None = None
    partial: Payment | None = None  # counted, but the invoice is still short
    unmatched: UnmatchedMoney | None = None  # recorded for the admins
    seen_before: bool = False
    error: str | None = None  # crediting failed (e.g. a full disk): retried, never dropped


def unmatched_money(
    arrival: MoneyArrival, payment: Payment | None, reason: UnmatchedReason, detail: str = ""
) -> UnmatchedMoney:
    """The record of an arrival that was not credited."""
    return UnmatchedMoney(
        id=arrival.money_id,
        method=arrival.method,
        amount=arrival.amount,
        currency=arrival.currency,
        reference=arrival.reference,
        payment_id=payment.id if payment is not None else None,
        user_id=payment.user_id if payment is not None else arrival.user_id,
        reason=reason,
        at=time.time(),
        detail=detail,
    )


def new_payment_id() -> str:
    """Short, unguessable, URL- and label-safe."""
    return secrets.token_hex(6)


def new_payment_number(digits: int = PAYMENT_NUMBER_DIGITS) -> str:
    """An SBP payment's number for the bank's comment: digits only, never a leading zero
    (a bank app or a person might drop it)."""
    low = 10 ** (digits - 1)
    return str(low + secrets.randbelow(9 * low))


def payment_ref(payment: Payment) -> str:
    """The payment as its user knows it: the SBP number, else the id."""
    return payment.number or payment.id


def charge_payment_id(charge_id: str) -> str:
    """The payment a Stars subscription's charge becomes: named by the charge, so the same
    charge can never make two payments (nor add two periods: the period's source). The
    "r" keeps these ids apart from invoice ids (hex only)."""
    return "r" + hashlib.sha256(f"stars:{charge_id}".encode()).hexdigest()[:19]


def period_source(payment: Payment) -> str:
    """The source of the plan period a payment bought."""
    return f"payment:{payment.id}"
