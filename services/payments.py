"""Payments: one open invoice per intent, credited exactly once, every kopeck accounted for."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from services.catalog import Plan
from services.models import Payment, PaymentStatus, UnmatchedMoney, UnmatchedReason
from services.money import InFlight, Staged
from services.storage.base import Retention, Storage
from services.subscriptions import SubscriptionService, UnknownPlanError

logger = logging.getLogger(__name__)

# Which status may follow which: forward only.
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    "pending": frozenset({"paid", "rejected", "expired"}),
    "expired": frozenset({"paid", "rejected"}),  # late money, or a manager's late decision
    "paid": frozenset({"refunded"}),
    "rejected": frozenset(),
    "refunded": frozenset(),
}
METHODS = ("yoomoney", "sbp", "stars")
# A pending invoice is shown again (not replaced) while at least this much of its life is left.
REUSE_MARGIN = 3_600.0
SEEN_MONEY_CACHE = 100_000  # money ids looked up in the history, remembered this many


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


@dataclass(slots=True, frozen=True)
class MoneyArrival:
    """Money a payment system reports: a YooMoney operation or a Stars charge."""

    method: str  # "yoomoney" | "stars"
    external_id: str  # operation id or telegram_payment_charge_id
    amount: float
    currency: str
    reference: str  # the label or invoice payload we gave: our payment id
    user_id: int | None = None  # who paid, where the system says (Stars)


@dataclass(slots=True, frozen=True)
class ArrivalOutcome:
    """What became of an arrival: credited, counted toward its invoice, or recorded."""

    credit: CreditResult | None = None
    partial: Payment | None = None  # counted, but the invoice is still short
    unmatched: UnmatchedMoney | None = None  # recorded for the admins
    seen_before: bool = False


def unmatched_money(
    arrival: MoneyArrival, payment: Payment | None, reason: UnmatchedReason, detail: str = ""
) -> UnmatchedMoney:
    """The record of an arrival that was not credited."""
    return UnmatchedMoney(
        id=f"{arrival.method}:{arrival.external_id}",
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


class PaymentService:
    """Live payments in memory (see Retention); older ones are read from storage on demand."""

    def __init__(
        self,
        storage: Storage,
        subscriptions: SubscriptionService,
        retention: Retention,
        *,
        invoice_ttl: float,
    ) -> None:
        self._storage = storage
        self._subscriptions = subscriptions
        self._retention = retention
        self._invoice_ttl = invoice_ttl
        self._live: dict[str, Payment] = {}
        self._open: dict[tuple[int, str, str], str] = {}  # (user, plan, method) -> payment id
        self._unmatched: dict[str, UnmatchedMoney] = {}
        self._seen_money: TTLCache[str, bool] = TTLCache(SEEN_MONEY_CACHE, ttl=7 * 86_400)
        self._busy: set[str] = set()  # payments with a refund in flight
        self._in_flight = InFlight()  # payment writes, for callers who read them meanwhile
        # Called once per payment when it becomes paid, whichever path credited it.
        self.credit_listeners: list[Callable[[CreditResult], Awaitable[None]]] = []
        # Called once per recorded unmatched arrival (admins are told).
        self.unmatched_listeners: list[Callable[[UnmatchedMoney], Awaitable[object]]] = []

    async def load(self, payments: list[Payment], unmatched: list[UnmatchedMoney]) -> None:
        for payment in payments:
            self._install(payment)
        self._unmatched = {item.id: item for item in unmatched}
        await self._recover_unrecorded_credits()

    async def _recover_unrecorded_credits(self) -> None:
        """Files written by format 1 could hold a period granted for a payment still
        marked pending (a crash between two writes): mark such payments paid."""
        staged = Staged()
        for payment in list(self._live.values()):
            source = f"payment:{payment.id}"
            if payment.status in ("pending", "expired") and self._subscriptions.has_source(
                payment.user_id, source
            ):
                logger.warning("Recovering payment %s credited before a crash", payment.id)
                self._stage(staged, self._moved(payment, "paid", paid_at=payment.updated_at))
        await self._commit(staged)

    def prune(self, now: float | None = None) -> None:
        """Forget payments and unmatched money that left the live set."""
        moment = time.time() if now is None else now
        for payment in list(self._live.values()):
            if not self._retention.payment_is_live(payment, moment):
                self._forget(payment)
        for item in list(self._unmatched.values()):
            if not self._retention.unmatched_is_live(item, moment):
                del self._unmatched[item.id]

    # Queries ----------------------------------------------------------------------
    def get(self, payment_id: str) -> Payment | None:
        """A live payment (pending, or changed recently)."""
        return self._live.get(payment_id.strip().lower())

    async def find(self, payment_id: str) -> Payment | None:
        """Any payment, also from the history."""
        key = payment_id.strip().lower()
        return self._live.get(key) or await self._storage.find_payment(key)

    def live(self) -> list[Payment]:
        return sorted(self._live.values(), key=lambda p: p.created_at)

    def with_status(self, *statuses: PaymentStatus, method: str | None = None) -> list[Payment]:
        return [
            p
            for p in self.live()
            if p.status in statuses and (method is None or p.method == method)
        ]

    def history(self) -> AsyncIterator[Payment]:
        """Every payment ever made, each in its latest state, streamed from storage."""
        return self._storage.iter_payments()

    def unmatched(self) -> list[UnmatchedMoney]:
        """Recorded arrivals an admin has not settled yet, oldest first."""
        items = (item for item in self._unmatched.values() if item.resolved_at is None)
        return sorted(items, key=lambda item: item.at)

    def stars_checkout_ok(self, payload: str, user_id: int, currency: str, amount: int) -> bool:
        """Telegram's pre-checkout question for a Stars invoice: may it be paid now?
        Reads memory only (the answer is due within 10 s)."""
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

    # Invoices ---------------------------------------------------------------------
    async def open_invoice(
        self, user_id: int, plan_id: str, method: str, now: float | None = None
    ) -> Payment:
        """The user's open invoice for this plan and method, or a new one.

        A second press (or a concurrent one) shows the same invoice; one near its
        expiry is replaced by a fresh one.
        """
        plan = self._subscriptions.plan(plan_id)
        if method not in METHODS:
            raise PaymentError("bad_method")
        moment = time.time() if now is None else now
        existing = self._live.get(self._open.get((user_id, plan.id, method), ""))
        if (
            existing is not None
            and existing.status == "pending"
            and moment - existing.created_at < self._invoice_ttl - REUSE_MARGIN
        ):
            await self._settled(existing.id)  # a double tap: the first press's invoice
            return existing
        stars = method == "stars"
        payment = Payment(
            id=new_payment_id(),
            user_id=user_id,
            plan_id=plan.id,
            method=method,
            amount=float(plan.stars if stars else plan.price_rub),
            currency="XTR" if stars else "RUB",
            status="pending",
            created_at=moment,
            updated_at=moment,
        )
        staged = Staged()
        self._stage(staged, payment)
        await self._commit(staged)
        return payment

    # Money arriving -----------------------------------------------------------------
    async def accept(self, arrival: MoneyArrival, *, minimum_share: float = 1.0) -> ArrivalOutcome:
        """The one path for money a payment system reports.

        Credits the invoice it pays for; adds partial transfers up; anything else
        (a paid, rejected or refunded invoice, an unknown label, a plan that is gone,
        any failure) is recorded as unmatched money and reported, never dropped.
        """
        money_id = f"{arrival.method}:{arrival.external_id}"
        if self._already_handled(money_id):
            return ArrivalOutcome(seen_before=True)
        if arrival.reference:
            await self._load(arrival.reference)
            if self._already_handled(money_id):  # decided by someone else meanwhile
                return ArrivalOutcome(seen_before=True)
        payment = self.get(arrival.reference) if arrival.reference else None
        if payment is None or payment.method != arrival.method:
            return await self._record_unmatched(arrival, payment, "unknown")
        if arrival.external_id in payment.operations or arrival.external_id == payment.charge_id:
            self._seen_money[money_id] = True
            return ArrivalOutcome(seen_before=True)
        if payment.status in ("paid", "rejected", "refunded"):
            return await self._record_unmatched(arrival, payment, payment.status)
        try:
            return await self._count_toward(payment, arrival, minimum_share)
        except UnknownPlanError:
            return await self._record_unmatched(arrival, payment, "plan_missing")

    def _already_handled(self, money_id: str) -> bool:
        return money_id in self._unmatched or money_id in self._seen_money

    async def _count_toward(
        self, payment: Payment, arrival: MoneyArrival, minimum_share: float
    ) -> ArrivalOutcome:
        received = (payment.received_amount or 0.0) + arrival.amount
        operations = (*payment.operations, arrival.external_id)
        self._seen_money[f"{arrival.method}:{arrival.external_id}"] = True
        if received + 1e-9 < payment.amount * minimum_share:
            updated = dataclasses.replace(
                payment, received_amount=received, operations=operations, updated_at=time.time()
            )
            staged = Staged()
            self._stage(staged, updated)
            await self._commit(staged)
            return ArrivalOutcome(partial=updated)
        is_stars = arrival.method == "stars"
        credit = await self.credit(
            payment.id,
            received_amount=None if is_stars else received,
            operations=() if is_stars else operations,
            operation_id=None if is_stars else arrival.external_id,
            charge_id=arrival.external_id if is_stars else None,
        )
        return ArrivalOutcome(credit=credit)

    async def _record_unmatched(
        self, arrival: MoneyArrival, payment: Payment | None, reason: UnmatchedReason
    ) -> ArrivalOutcome:
        item = unmatched_money(arrival, payment, reason)
        return ArrivalOutcome(unmatched=await self.record_unmatched(item))

    async def record_unmatched(self, item: UnmatchedMoney) -> UnmatchedMoney | None:
        """Record money that could not be credited, once per arrival; admins are told."""
        if item.id in self._unmatched:
            return None
        self._unmatched[item.id] = item
        staged = Staged()
        staged.transaction.unmatched.append(item)
        staged.on_undo(lambda: self._unmatched.__delitem__(item.id))
        await self._commit(staged)
        logger.warning(
            "Unmatched money %s: %s %s (%s)", item.id, item.amount, item.currency, item.reason
        )
        for listener in self.unmatched_listeners:
            try:
                await listener(item)
            except Exception:
                logger.exception("An unmatched-money listener failed for %s", item.id)
        return item

    def unmatched_stars(self, money_id: str) -> UnmatchedMoney:
        """An open Stars record an admin may refund; claimed until `end_refund`."""
        item = self._unmatched.get(money_id)
        if item is None or item.resolved_at is not None:
            raise PaymentError("not_found")
        if item.method != "stars" or item.user_id is None:
            raise PaymentError("not_stars")
        if money_id in self._busy:
            raise PaymentError("in_progress")
        self._busy.add(money_id)
        return item

    async def resolve_unmatched(self, money_id: str, *, decided_by: int) -> UnmatchedMoney:
        """An admin settled it (refunded, credited by hand, or it was not for us)."""
        item = self._unmatched.get(money_id)
        if item is None:
            raise PaymentError("not_found")
        if item.resolved_at is not None:
            raise PaymentError("already_resolved")
        resolved = dataclasses.replace(item, resolved_at=time.time(), resolved_by=decided_by)
        self._unmatched[money_id] = resolved
        staged = Staged()
        staged.transaction.unmatched.append(resolved)
        staged.on_undo(lambda: self._unmatched.__setitem__(money_id, item))
        await self._commit(staged)
        return resolved

    # Decisions --------------------------------------------------------------------
    async def confirm(self, payment_id: str, *, decided_by: int) -> CreditResult:
        """A manager confirms by hand: an SBP payment, or YooMoney money that arrived short.
        YooMoney and Stars invoices otherwise credit themselves when the money arrives, so a
        hand confirmation there would grant a plan for an unpaid invoice."""
        await self._load(payment_id)
        payment = self._require(payment_id)
        if payment.status not in ("pending", "expired"):
            raise PaymentError(f"decided_{payment.status}")
        arrived_short = payment.method == "yoomoney" and bool(payment.operations)
        if payment.method != "sbp" and not arrived_short:
            raise PaymentError("not_by_hand")
        return await self.credit(
            payment.id,
            decided_by=decided_by,
            received_amount=payment.received_amount,
            operations=payment.operations,
        )

    async def credit(
        self,
        payment_id: str,
        *,
        received_amount: float | None = None,
        operations: tuple[str, ...] = (),
        operation_id: str | None = None,
        charge_id: str | None = None,
        decided_by: int | None = None,
    ) -> CreditResult:
        """Mark a payment paid and add its plan period, exactly once, in one commit.

        The checks and the in-memory change happen before the first await, so two
        callers at once (poller, check button, notification, admin) credit once.
        """
        await self._load(payment_id)
        payment = self._require(payment_id)  # from here on, no await until the commit
        plan = self.plan_of(payment)
        if payment.status == "paid":
            await self._settled(payment.id)  # paid by a caller whose write is in flight
            return CreditResult(payment, plan, self._plan_end(payment), newly_paid=False)
        if "paid" not in TRANSITIONS[payment.status]:
            raise PaymentError(f"not_creditable_{payment.status}")
        now = time.time()
        paid = self._moved(
            payment,
            "paid",
            now=now,
            paid_at=now,
            received_amount=received_amount,
            operations=operations or payment.operations,
            operation_id=operation_id or payment.operation_id,
            charge_id=charge_id or payment.charge_id,
            decided_by=decided_by,
        )
        staged = Staged()
        self._stage(staged, paid)
        subscription = self._subscriptions.stage_period(
            staged, payment.user_id, plan.id, plan.days, f"payment:{payment.id}", now
        )
        await self._commit(staged)
        logger.info("Payment %s credited: user %s, plan %s", payment.id, payment.user_id, plan.id)
        result = CreditResult(paid, plan, subscription.end, newly_paid=True)
        for listener in self.credit_listeners:
            try:
                await listener(result)
            except Exception:  # telling people must not undo or repeat a credit
                logger.exception("A credit listener failed for payment %s", payment.id)
        return result

    async def reject(self, payment_id: str, *, reason: str, decided_by: int) -> Payment:
        await self._load(payment_id)
        payment = self._require(payment_id)
        if "rejected" not in TRANSITIONS[payment.status]:
            raise PaymentError(f"not_pending_{payment.status}")
        rejected = self._moved(payment, "rejected", note=reason, decided_by=decided_by)
        staged = Staged()
        self._stage(staged, rejected)
        await self._commit(staged)
        return rejected

    async def mark_receipt_sent(self, payment_id: str) -> Payment:
        """SBP: the user sent a receipt; also for an expired invoice (money may be late)."""
        await self._load(payment_id)
        payment = self._require(payment_id)
        if payment.status not in ("pending", "expired"):
            raise PaymentError(f"not_pending_{payment.status}")
        updated = dataclasses.replace(payment, receipt_sent=True, updated_at=time.time())
        staged = Staged()
        self._stage(staged, updated)
        await self._commit(staged)
        return updated

    async def note(self, payment: Payment, text: str) -> Payment:
        current = self._require(payment.id)
        updated = dataclasses.replace(current, note=text)
        staged = Staged()
        self._stage(staged, updated)
        await self._commit(staged)
        return updated

    async def expire_stale(self, max_age: float, now: float | None = None) -> list[Payment]:
        """Pending payments older than `max_age` seconds become expired: one commit."""
        moment = time.time() if now is None else now
        staged = Staged()
        expired = []
        for payment in self.with_status("pending"):
            if moment - payment.created_at >= max_age and not payment.receipt_sent:
                moved = self._moved(payment, "expired", now=moment)
                self._stage(staged, moved)
                expired.append(moved)
        await self._commit(staged)
        return expired

    async def begin_refund(self, payment_id: str) -> Payment:
        """Claim a paid payment for a refund; a second press at once is refused."""
        await self._load(payment_id)
        payment = self._require(payment_id)
        if payment.status != "paid":
            raise PaymentError(f"not_paid_{payment.status}")
        if payment.id in self._busy:
            raise PaymentError("in_progress")
        self._busy.add(payment.id)
        return payment

    def end_refund(self, payment_id: str) -> None:
        self._busy.discard(payment_id)

    async def refund(self, payment_id: str, *, decided_by: int) -> Payment:
        """Record a refund (after the money went back) and take the unused period back."""
        payment = self._require(payment_id)
        if payment.status != "paid":
            raise PaymentError(f"not_paid_{payment.status}")
        refunded = self._moved(payment, "refunded", decided_by=decided_by)
        staged = Staged()
        self._stage(staged, refunded)
        self._subscriptions.stage_refund(staged, payment.user_id, f"payment:{payment.id}")
        await self._commit(staged)
        return refunded

    # Internals ----------------------------------------------------------------------
    async def _commit(self, staged: Staged) -> None:
        ids = [payment.id for payment in staged.transaction.payments]
        await self._in_flight.commit(staged, self._storage, ids)

    async def _settled(self, payment_id: str) -> None:
        await self._in_flight.settled(payment_id)

    async def _load(self, payment_id: str) -> None:
        """Bring a payment from the history into the live set (an old invoice, a refund)."""
        key = payment_id.strip().lower()
        if key in self._live:
            return
        payment = await self._storage.find_payment(key)
        if payment is not None and key not in self._live:
            self._install(payment)

    def _require(self, payment_id: str) -> Payment:
        payment = self.get(payment_id)
        if payment is None:
            raise PaymentError("not_found")
        return payment

    def _moved(
        self, payment: Payment, status: PaymentStatus, now: float | None = None, **changes: Any
    ) -> Payment:
        if status not in TRANSITIONS[payment.status]:
            raise PaymentError(f"bad_transition_{payment.status}_{status}")
        moment = time.time() if now is None else now
        return dataclasses.replace(payment, status=status, updated_at=moment, **changes)

    def _install(self, payment: Payment) -> None:
        self._live[payment.id] = payment
        key = (payment.user_id, payment.plan_id, payment.method)
        if payment.status == "pending":
            self._open[key] = payment.id
        elif self._open.get(key) == payment.id:
            del self._open[key]

    def _forget(self, payment: Payment) -> None:
        self._live.pop(payment.id, None)
        key = (payment.user_id, payment.plan_id, payment.method)
        if self._open.get(key) == payment.id:
            del self._open[key]

    def _stage(self, staged: Staged, payment: Payment) -> None:
        old = self._live.get(payment.id)
        self._install(payment)
        staged.transaction.payments.append(payment)

        def undo() -> None:
            if self._live.get(payment.id) is payment:
                if old is None:
                    self._forget(payment)
                else:
                    self._install(old)

        staged.on_undo(undo)

    def _plan_end(self, payment: Payment) -> float:
        for item in self._subscriptions.active_plans(payment.user_id):
            if item.plan.id == payment.plan_id:
                return item.end
        return payment.paid_at or 0.0
