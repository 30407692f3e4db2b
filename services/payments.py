"""Payments: created pending, credited exactly once, status only moving forward."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.catalog import Catalog, Plan
from services.models import Payment, PaymentStatus
from services.storage.base import Storage
from services.subscriptions import SubscriptionService

logger = logging.getLogger(__name__)

# Which status may follow which: forward only.
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    "pending": frozenset({"paid", "rejected", "expired"}),
    "expired": frozenset({"paid"}),  # late money that is still accepted
    "paid": frozenset({"refunded"}),
    "rejected": frozenset(),
    "refunded": frozenset(),
}
METHODS = ("yoomoney", "sbp", "stars")


class PaymentError(Exception):
    """A payment action is refused; `reason` picks the text (not_found, not_pending...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True, frozen=True)
class CreditResult:
    payment: Payment
    plan: Plan
    end: float  # the plan's end after this credit
    newly_paid: bool  # False when the payment had already been credited


def new_payment_id() -> str:
    """Short, unguessable, URL- and label-safe."""
    return secrets.token_hex(6)


class PaymentService:
    def __init__(
        self, storage: Storage, catalog: Catalog, subscriptions: SubscriptionService
    ) -> None:
        self._storage = storage
        self._catalog = catalog
        self._subscriptions = subscriptions
        self._payments: dict[str, Payment] = {}
        # Called once per payment when it becomes paid, whichever path credited it.
        self.credit_listeners: list[Callable[[CreditResult], Awaitable[None]]] = []

    async def load(self) -> None:
        self._payments = {p.id: p for p in await self._storage.all_payments()}
        await self._recover_unrecorded_credits()

    async def _recover_unrecorded_credits(self) -> None:
        """The period is written before the payment's status: a crash in between leaves
        a granted period with a pending payment, which is marked paid here."""
        for payment in self._payments.values():
            source = f"payment:{payment.id}"
            if payment.status in ("pending", "expired") and self._subscriptions.has_source(
                payment.user_id, source
            ):
                logger.warning("Recovering payment %s credited before a crash", payment.id)
                self._move(payment, "paid")
                payment.paid_at = payment.paid_at or payment.updated_at
                await self._storage.save_payment(payment)

    # Queries ----------------------------------------------------------------------
    def get(self, payment_id: str) -> Payment | None:
        return self._payments.get(payment_id.strip().lower())

    def all(self) -> list[Payment]:
        return sorted(self._payments.values(), key=lambda p: p.created_at)

    def with_status(self, *statuses: PaymentStatus, method: str | None = None) -> list[Payment]:
        return [
            p for p in self.all() if p.status in statuses and (method is None or p.method == method)
        ]

    def plan_of(self, payment: Payment) -> Plan:
        return self._subscriptions.plan(payment.plan_id)

    # Changes ----------------------------------------------------------------------
    async def create(self, user_id: int, plan_id: str, method: str) -> Payment:
        plan = self._subscriptions.plan(plan_id)
        if method not in METHODS:
            raise PaymentError("bad_method")
        now = time.time()
        stars = method == "stars"
        payment = Payment(
            id=new_payment_id(),
            user_id=user_id,
            plan_id=plan.id,
            method=method,
            amount=float(plan.stars if stars else plan.price_rub),
            currency="XTR" if stars else "RUB",
            status="pending",
            created_at=now,
            updated_at=now,
        )
        self._payments[payment.id] = payment
        await self._storage.save_payment(payment)
        return payment

    async def credit(
        self,
        payment_id: str,
        *,
        received_amount: float | None = None,
        operation_id: str | None = None,
        charge_id: str | None = None,
        decided_by: int | None = None,
    ) -> CreditResult:
        """Mark a payment paid and add its plan period, exactly once.

        Every check and in-memory change happens before the first await, so two
        callers at once (poller, check button, notification, admin) credit once.
        The period is saved before the payment; `load()` repairs a crash between.
        """
        payment = self.get(payment_id)
        if payment is None:
            raise PaymentError("not_found")
        plan = self.plan_of(payment)
        if payment.status == "paid":
            return CreditResult(payment, plan, self._plan_end(payment), newly_paid=False)
        if "paid" not in TRANSITIONS[payment.status]:
            raise PaymentError(f"not_creditable_{payment.status}")
        self._move(payment, "paid")
        payment.paid_at = payment.updated_at
        payment.received_amount = received_amount
        payment.operation_id = operation_id or payment.operation_id
        payment.charge_id = charge_id or payment.charge_id
        payment.decided_by = decided_by
        subscription = self._subscriptions.add_period(
            payment.user_id, plan.id, plan.days, f"payment:{payment.id}"
        )
        await self._subscriptions.save(subscription)
        await self._storage.save_payment(payment)
        logger.info("Payment %s credited: user %s, plan %s", payment.id, payment.user_id, plan.id)
        result = CreditResult(payment, plan, subscription.end, newly_paid=True)
        for listener in self.credit_listeners:
            try:
                await listener(result)
            except Exception:  # telling people must not undo or repeat a credit
                logger.exception("A credit listener failed for payment %s", payment.id)
        return result

    async def reject(self, payment_id: str, *, reason: str, decided_by: int) -> Payment:
        payment = self._require(payment_id)
        if payment.status != "pending":
            raise PaymentError(f"not_pending_{payment.status}")
        self._move(payment, "rejected")
        payment.note, payment.decided_by = reason, decided_by
        await self._storage.save_payment(payment)
        return payment

    async def mark_receipt_sent(self, payment_id: str) -> Payment:
        payment = self._require(payment_id)
        if payment.status != "pending":
            raise PaymentError(f"not_pending_{payment.status}")
        payment.receipt_sent = True
        payment.updated_at = time.time()
        await self._storage.save_payment(payment)
        return payment

    async def note(self, payment: Payment, text: str) -> None:
        payment.note = text
        await self._storage.save_payment(payment)

    async def expire_stale(self, max_age: float, now: float | None = None) -> list[Payment]:
        """Pending payments older than `max_age` seconds become expired."""
        moment = time.time() if now is None else now
        expired = []
        for payment in self.with_status("pending"):
            if moment - payment.created_at >= max_age and not payment.receipt_sent:
                self._move(payment, "expired", moment)
                expired.append(payment)
        for payment in expired:
            await self._storage.save_payment(payment)
        return expired

    async def refund(self, payment_id: str, *, decided_by: int) -> Payment:
        """Record a refund (after the money went back) and take the period back."""
        payment = self._require(payment_id)
        if payment.status != "paid":
            raise PaymentError(f"not_paid_{payment.status}")
        self._move(payment, "refunded")
        payment.decided_by = decided_by
        await self._subscriptions.remove_source(payment.user_id, f"payment:{payment.id}")
        await self._storage.save_payment(payment)
        return payment

    def _require(self, payment_id: str) -> Payment:
        payment = self.get(payment_id)
        if payment is None:
            raise PaymentError("not_found")
        return payment

    def _move(self, payment: Payment, status: PaymentStatus, now: float | None = None) -> None:
        if status not in TRANSITIONS[payment.status]:
            raise PaymentError(f"bad_transition_{payment.status}_{status}")
        payment.status = status
        payment.updated_at = time.time() if now is None else now

    def _plan_end(self, payment: Payment) -> float:
        for item in self._subscriptions.active_plans(payment.user_id):
            if item.plan.id == payment.plan_id:
                return item.end
        return payment.paid_at or 0.0
