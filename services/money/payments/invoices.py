"""The invoices ledger: payments by id, one open invoice per user, plan and method; their
status moves only forward (TRANSITIONS). Live payments are in memory (see Retention);
older ones are read from storage on demand."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from services.catalog import Plan
from services.models import Payment, PaymentMethod, PaymentStatus, payment_method
from services.money.outbox import OutboxService
from services.money.payments.commits import PaymentCommits
from services.money.payments.errors import PaymentError, PaymentRefusal
from services.money.payments.records import (
    NUMBER_ATTEMPTS,
    PAYMENT_NUMBER_DIGITS,
    RECEIPT_WAIT,
    RECEIPTS_PER_INVOICE,
    REUSE_MARGIN,
    new_payment_id,
    new_payment_number,
    payment_ref,
    period_source,
)
from services.money.staging import Staged, Table
from services.money.subscriptions import SubscriptionService
from services.storage.base import TRANSITIONS, Retention, Transaction

logger = logging.getLogger(__name__)

OpenKey = tuple[int, str, str]  # user, plan, method


def _payments(transaction: Transaction) -> list[Payment]:
    return transaction.payments


class PaymentTable(Table[str, Payment]):
    """Live payments by id, the open (pending) one per user, plan and method, and SBP
    payments by their short number."""

    def __init__(self) -> None:
        super().__init__(lambda payment: payment.id, _payments)
        self._open: dict[OpenKey, str] = {}
        self._numbers: dict[str, str] = {}  # number -> payment id

    def install(self, record: Payment) -> None:
        super().install(record)
        if record.number is not None:
            self._numbers[record.number] = record.id
        key = (record.user_id, record.plan_id, record.method)
        if record.status == "pending":
            self._open[key] = record.id
        elif self._open.get(key) == record.id:
            del self._open[key]

    def remove(self, record: Payment) -> None:
        super().remove(record)
        if record.number is not None and self._numbers.get(record.number) == record.id:
            del self._numbers[record.number]
        key = (record.user_id, record.plan_id, record.method)
        if self._open.get(key) == record.id:
            del self._open[key]

    def open_for(self, user_id: int, plan_id: str, method: str) -> Payment | None:
        return self.get(self._open.get((user_id, plan_id, method), ""))

    def resolve(self, reference: str) -> str:
        """The payment id a reference names: an id, or a live SBP payment's number
        (also written "№123456")."""
        text = reference.strip().lower()
        return self._numbers.get(text.lstrip("№# "), text)

    def new_number(self) -> str:
        """A short number no live payment has (drawn at random, so it tells nothing)."""
        for _ in range(NUMBER_ATTEMPTS):
            number = new_payment_number()
            if number not in self._numbers:
                return number
        return new_payment_number(digits=PAYMENT_NUMBER_DIGITS + 3)  # next to impossible


def moved(
    payment: Payment, status: PaymentStatus, now: float | None = None, **changes: Any
) -> Payment:
    """The payment in `status` (refused unless TRANSITIONS allow it)."""
    if status not in TRANSITIONS[payment.status]:
        raise PaymentError(PaymentRefusal.BAD_TRANSITION, payment.status)
    moment = time.time() if now is None else now
    return dataclasses.replace(payment, status=status, updated_at=moment, **changes)


class Invoices:
    def __init__(
        self,
        commits: PaymentCommits,
        subscriptions: SubscriptionService,
        outbox: OutboxService,
        retention: Retention,
        invoice_ttl: float,
    ) -> None:
        self._commits = commits
        self._storage = commits.storage
        self._subscriptions = subscriptions
        self._outbox = outbox
        self._retention = retention
        self._invoice_ttl = invoice_ttl
        self.table = PaymentTable()

    async def load(self, payments: list[Payment]) -> None:
        for payment in payments:
            self.table.install(payment)
        await self._recover_unrecorded_credits()

    async def _recover_unrecorded_credits(self) -> None:
        """Files written by format 1 could hold a period granted for a payment still
        marked pending (a crash between two writes): mark such payments paid."""
        staged = Staged()
        for payment in list(self.table.values()):
            if payment.status in ("pending", "expired") and self._subscriptions.has_source(
                payment.user_id, period_source(payment)
            ):
                logger.warning("Recovering payment %s credited before a crash", payment.id)
                self.table.stage(staged, moved(payment, "paid", paid_at=payment.updated_at))
        await self._commits.commit(staged)

    def prune(self, moment: float) -> None:
        for payment in list(self.table.values()):
            if not self._retention.payment_is_live(payment, moment):
                self.table.remove(payment)

    # Queries ----------------------------------------------------------------------
    def get(self, payment_id: str) -> Payment | None:
        """A live payment (pending, or changed recently)."""
        return self.table.get(payment_id.strip().lower())

    async def find(self, payment_id: str) -> Payment | None:
        """Any payment, also from the history."""
        key = payment_id.strip().lower()
        return self.table.get(key) or await self._storage.find_payment(key)

    def resolve(self, reference: str) -> str:
        """The payment id a person's reference names (an id, or a live SBP number)."""
        return self.table.resolve(reference)

    def live(self) -> list[Payment]:
        return sorted(self.table.values(), key=lambda p: p.created_at)

    def with_status(
        self, *statuses: PaymentStatus, method: PaymentMethod | None = None
    ) -> list[Payment]:
        return [
            p
            for p in self.live()
            if p.status in statuses and (method is None or p.method == method)
        ]

    def history(self) -> AsyncIterator[Payment]:
        """Every payment ever made, each in its latest state, streamed from storage."""
        return self._storage.iter_payments()

    async def paid_since(self, since: float, user_id: int | None = None) -> list[Payment]:
        """Payments paid at or after `since` (of one user, if given). Only invoices young
        enough to be paid by then are read: an invoice is open open_payment_seconds."""
        created_since = since - self._retention.open_payment_seconds
        return [
            payment
            async for payment in self._storage.iter_payments(created_since)
            if payment.status == "paid"
            and (payment.paid_at or 0.0) >= since
            and (user_id is None or payment.user_id == user_id)
        ]

    def checkout_ok(self, payload: str, user_id: int, currency: str, amount: int) -> bool:
        """May this Stars invoice be paid now (memory only)?"""
        payment = self.get(payload)
        return (
            payment is not None
            and payment.method == "stars"
            and payment.status == "pending"
            and payment.user_id == user_id
            and currency == "XTR"
            and amount == int(payment.amount)
        )

    def plan_of(self, payment: Payment) -> Plan:
        return self._subscriptions.plan(payment.plan_id)

    # Changes ----------------------------------------------------------------------
    async def open_invoice(
        self, user_id: int, plan_id: str, method: str, now: float | None = None
    ) -> Payment:
        """The user's open invoice for this plan and method, or a new one.

        A second press (or a concurrent one) shows the same invoice; one near its
        expiry is replaced by a fresh one.
        """
        plan = self._subscriptions.plan(plan_id)
        known = payment_method(method)
        if known is None:
            raise PaymentError(PaymentRefusal.BAD_METHOD)
        moment = time.time() if now is None else now
        existing = self.table.open_for(user_id, plan.id, known)
        if (
            existing is not None
            and existing.status == "pending"
            and moment - existing.created_at < self._invoice_ttl - REUSE_MARGIN
        ):
            await self._commits.settled(existing.id)  # a double tap: the first press's
            return existing
        stars = known == "stars"
        payment = Payment(
            id=new_payment_id(),
            user_id=user_id,
            plan_id=plan.id,
            method=known,
            amount=float(plan.stars if stars else plan.price_rub),
            currency="XTR" if stars else "RUB",
            status="pending",
            created_at=moment,
            updated_at=moment,
            # Inside a money decision: the live set holds every process's numbers.
            number=self.table.new_number() if known == "sbp" else None,
        )
        await self._write(payment)
        return payment

    async def reject(self, payment_id: str, *, reason: str, decided_by: int) -> Payment:
        await self.bring(payment_id)
        payment = self.require(payment_id)
        if "rejected" not in TRANSITIONS[payment.status]:
            raise PaymentError(PaymentRefusal.NOT_PENDING, payment.status)
        rejected = moved(payment, "rejected", note=reason, decided_by=decided_by)
        staged = Staged()
        self.table.stage(staged, rejected)
        # The user's words name the payment as the user knows it, and offer it again.
        params = {"payment_id": payment_ref(payment), "reason": reason, "plan_id": payment.plan_id}
        self._outbox.tell(staged, payment.user_id, "pay_rejected", params)  # told once, surely
        await self._commits.commit(staged)
        return rejected

    async def take_receipt(self, payment_id: str, *, attached: bool) -> Payment | None:
        """SBP: the user sent a receipt (`attached`) or pressed "I have paid"; also for an
        expired invoice (money may be late). The invoice, if the managers should get it
        now, else None: at most RECEIPTS_PER_INVOICE receipts are copied to them, and the
        bare press reaches them once. Checked and claimed before the first await."""
        await self.bring(payment_id)
        payment = self.require(payment_id)
        if payment.status not in ("pending", "expired"):
            raise PaymentError(PaymentRefusal.NOT_PENDING, payment.status)
        if attached and payment.receipts >= RECEIPTS_PER_INVOICE:
            return None
        if not attached and payment.receipt_sent:
            return None
        updated = dataclasses.replace(
            payment,
            receipt_sent=True,
            receipts=payment.receipts + attached,
            updated_at=time.time(),
        )
        await self._write(updated)
        return updated

    async def note(self, payment: Payment, text: str) -> Payment:
        updated = dataclasses.replace(self.require(payment.id), note=text)
        await self._write(updated)
        return updated

    async def expire_stale(self, max_age: float, now: float | None = None) -> list[Payment]:
        """Pending payments older than `max_age` seconds become expired: one commit."""
        moment = time.time() if now is None else now
        staged = Staged()
        expired = []
        for payment in self.with_status("pending"):
            age = moment - payment.created_at
            # One a manager still has to check waits longer (and may be confirmed after).
            if age >= max_age + (RECEIPT_WAIT if payment.receipt_sent else 0.0):
                expired.append(self.table.stage(staged, moved(payment, "expired", now=moment)))
        await self._commits.commit(staged)
        return expired

    # For the other ledgers -----------------------------------------------------------
    async def bring(self, payment_id: str) -> None:
        """Bring a payment from the history into the live set (an old invoice, a refund)."""
        key = payment_id.strip().lower()
        if key in self.table:
            return
        payment = await self._storage.find_payment(key)
        if payment is not None and key not in self.table:
            self.table.install(payment)

    def require(self, payment_id: str) -> Payment:
        payment = self.get(payment_id)
        if payment is None:
            raise PaymentError(PaymentRefusal.NOT_FOUND)
        return payment

    async def _write(self, payment: Payment) -> None:
        staged = Staged()
        self.table.stage(staged, payment)
        await self._commits.commit(staged)
