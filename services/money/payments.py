"""Payments: one open invoice per intent, credited exactly once, every kopeck accounted for."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from services.catalog import Plan
from services.models import (
    OutboxItem,
    Payment,
    PaymentStatus,
    StarsSubscription,
    UnmatchedMoney,
    UnmatchedReason,
)
from services.money.outbox import OutboxService
from services.money.staging import InFlight, Staged
from services.money.subscriptions import SubscriptionService, UnknownPlanError
from services.storage.base import TRANSITIONS, Retention, Storage

logger = logging.getLogger(__name__)

METHODS = ("yoomoney", "sbp", "stars")
# A pending invoice is shown again (not replaced) while at least this much of its life is left.
REUSE_MARGIN = 3_600.0
RECEIPTS_PER_INVOICE = 1  # SBP receipts copied to the managers per invoice
RECEIPT_WAIT = 7 * 86_400.0  # an SBP invoice with a receipt expires this much later
SEEN_MONEY_CACHE = 100_000  # money ids looked up in the history, remembered this many
# Telegram Stars subscriptions: the one period Telegram allows (30 days) and the top price.
STARS_SUBSCRIPTION_PERIOD = 2_592_000
MAX_SUBSCRIPTION_STARS = 10_000
STARS_SUBSCRIPTION_PREFIX = "sub"  # a subscription's id (its link's payload) starts so


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
    renewal: bool = False  # a Stars subscription's charge after its first


@dataclass(slots=True, frozen=True)
class MoneyArrival:
    """Money a payment system reports: a YooMoney operation or a Stars charge."""

    method: str  # "yoomoney" | "stars"
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


def charge_payment_id(charge_id: str) -> str:
    """The payment a Stars subscription's charge becomes: named by the charge, so the same
    charge can never make two payments (nor add two periods: the period's source). The
    "r" keeps these ids apart from invoice ids (hex only)."""
    return "r" + hashlib.sha256(f"stars:{charge_id}".encode()).hexdigest()[:19]


class PaymentService:
    """Live payments in memory (see Retention); older ones are read from storage on demand."""

    def __init__(
        self,
        storage: Storage,
        subscriptions: SubscriptionService,
        retention: Retention,
        *,
        invoice_ttl: float,
        outbox: OutboxService | None = None,
    ) -> None:
        self._storage = storage
        self.outbox = outbox if outbox is not None else OutboxService(storage)
        self._subscriptions = subscriptions
        self._retention = retention
        self._invoice_ttl = invoice_ttl
        self._live: dict[str, Payment] = {}
        self._open: dict[tuple[int, str, str], str] = {}  # (user, plan, method) -> payment id
        self._unmatched: dict[str, UnmatchedMoney] = {}
        self._recurring: dict[str, StarsSubscription] = {}  # Stars subscriptions by id
        self._recurring_of: dict[int, set[str]] = {}  # user -> their subscriptions' ids
        self._seen_money: TTLCache[str, bool] = TTLCache(SEEN_MONEY_CACHE, ttl=7 * 86_400)
        self._busy: set[str] = set()  # payments with a refund, subscriptions with a change
        self._in_flight = InFlight()  # payment writes, for callers who read them meanwhile
        # Called once per payment when it becomes paid, whichever path credited it.
        self.credit_listeners: list[Callable[[CreditResult], Awaitable[None]]] = []
        # Run inside every credit before its commit, with no await (a referral bonus): may
        # add records to the same transaction, so they land with the payment or not at all.
        self.credit_rules: list[Callable[[Staged, Payment, float], None]] = []
        # The same inside every refund of a payment (a referral bonus taken back).
        self.refund_rules: list[Callable[[Staged, Payment, float], None]] = []
        self.arrival_failed = asyncio.Event()  # set when a credit fails (retried soon)
        # Called when money arrived but could not be credited nor recorded (a full disk).
        self.failure_listeners: list[
            Callable[[MoneyArrival, Payment | None, str], Awaitable[object]]
        ] = []
        # Called once per recorded unmatched arrival (admins are told).
        self.unmatched_listeners: list[Callable[[UnmatchedMoney], Awaitable[object]]] = []

    async def load(
        self,
        payments: list[Payment],
        unmatched: list[UnmatchedMoney],
        stars_subscriptions: Iterable[StarsSubscription] = (),
    ) -> None:
        for payment in payments:
            self._install(payment)
        self._unmatched = {item.id: item for item in unmatched}
        for item in stars_subscriptions:
            self._install_recurring(item)
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
        for record in list(self._recurring.values()):
            if not self._retention.stars_subscription_is_live(record, moment):
                self._forget_recurring(record)

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

    def unmatched(self) -> list[UnmatchedMoney]:
        """Recorded arrivals an admin has not settled yet, oldest first."""
        items = (item for item in self._unmatched.values() if item.resolved_at is None)
        return sorted(items, key=lambda item: item.at)

    def stars_checkout_ok(self, payload: str, user_id: int, currency: str, amount: int) -> bool:
        """Telegram's pre-checkout question for a Stars invoice: may it be paid now?
        Reads memory only (the answer is due within 10 s)."""
        record = self._recurring.get(payload.strip().lower())
        if record is not None:
            return self._subscription_checkout_ok(record, user_id, currency, amount)
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
        if arrival.recurring or self._is_subscription_reference(arrival.reference):
            return await self._accept_charge(arrival)
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

    async def accept_or_record(
        self, arrival: MoneyArrival, *, minimum_share: float = 1.0
    ) -> ArrivalOutcome:
        """`accept`, never raising for one arrival's sake: when crediting fails (a full
        disk, an I/O error), the arrival is recorded as unmatched money with reason
        "error" (retried by the next check, the Stars ledger or a restart, and creditable
        by hand), and if even that cannot be written the admins get an alert naming the
        money, the user and the invoice."""
        try:
            return await self.accept(arrival, minimum_share=minimum_share)
        except Exception as error:
            logger.exception(
                "Money %s:%s could not be credited", arrival.method, arrival.external_id
            )
            detail = f"{type(error).__name__}: {error}"[:300]
            self.arrival_failed.set()
            payment = self.get(arrival.reference) if arrival.reference else None
            try:
                await self.record_unmatched(unmatched_money(arrival, payment, "error", detail))
            except Exception:
                logger.exception(
                    "Money %s:%s could not be recorded", arrival.method, arrival.external_id
                )
                for listener in self.failure_listeners:
                    try:
                        await listener(arrival, payment, detail)
                    except Exception:
                        logger.exception("A failure listener failed")
            return ArrivalOutcome(error=detail)

    def _already_handled(self, money_id: str) -> bool:
        """Seen, or recorded for the admins; a record of a failed credit ("error") is
        not: the next arrival of the same money tries again."""
        recorded = self._unmatched.get(money_id)
        if recorded is not None:
            return recorded.reason != "error" or recorded.resolved_at is not None
        return money_id in self._seen_money

    def _failed_credit(self, money_id: str) -> UnmatchedMoney | None:
        """The open record of a credit of this money that failed before, if any."""
        recorded = self._unmatched.get(money_id)
        if recorded is None or recorded.reason != "error" or recorded.resolved_at is not None:
            return None
        return recorded

    def _stage_retried(self, staged: Staged, money_id: str, now: float) -> None:
        """The credit of money whose earlier credit failed settles its "error" record, in
        the same transaction."""
        recorded = self._failed_credit(money_id)
        if recorded is not None:
            self._stage_settled(staged, recorded, 0, now, "(credited later)")

    async def _count_toward(
        self, payment: Payment, arrival: MoneyArrival, minimum_share: float
    ) -> ArrivalOutcome:
        received = (payment.received_amount or 0.0) + arrival.amount
        operations = (*payment.operations, arrival.external_id)
        money_id = f"{arrival.method}:{arrival.external_id}"
        self._seen_money[money_id] = True  # claimed before the first await...
        try:
            return await self._count(payment, arrival, minimum_share, received, operations)
        except BaseException:
            self._seen_money.pop(money_id, None)  # ...and given back if nothing was written
            raise

    async def _count(
        self,
        payment: Payment,
        arrival: MoneyArrival,
        minimum_share: float,
        received: float,
        operations: tuple[str, ...],
    ) -> ArrivalOutcome:
        if received + 1e-9 < payment.amount * minimum_share:
            updated = dataclasses.replace(
                payment, received_amount=received, operations=operations, updated_at=time.time()
            )
            staged = Staged()
            self._stage(staged, updated)
            self._stage_retried(staged, f"{arrival.method}:{arrival.external_id}", time.time())
            await self._commit(staged)
            return ArrivalOutcome(partial=updated)
        is_stars = arrival.method == "stars"
        credit = await self.credit(
            payment.id,
            received_amount=None if is_stars else received,
            operations=() if is_stars else operations,
            operation_id=None if is_stars else arrival.external_id,
            charge_id=arrival.external_id if is_stars else None,
            retried=f"{arrival.method}:{arrival.external_id}",
        )
        return ArrivalOutcome(credit=credit)

    async def _record_unmatched(
        self,
        arrival: MoneyArrival,
        payment: Payment | None,
        reason: UnmatchedReason,
        detail: str = "",
    ) -> ArrivalOutcome:
        item = unmatched_money(arrival, payment, reason, detail)
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
        staged = Staged()
        resolved = self._stage_settled(staged, item, decided_by, time.time())
        await self._commit(staged)
        return resolved

    def _stage_settled(
        self, staged: Staged, item: UnmatchedMoney, by: int | None, now: float, note: str = ""
    ) -> UnmatchedMoney:
        """An unmatched record settled (by an admin, or by the bot: `by` 0), in `staged`."""
        detail = f"{item.detail} {note}".strip() if note else item.detail
        settled = dataclasses.replace(item, resolved_at=now, resolved_by=by, detail=detail)
        self._unmatched[item.id] = settled
        staged.transaction.unmatched.append(settled)
        staged.on_undo(lambda: self._unmatched.__setitem__(item.id, item))
        return settled

    # Stars subscriptions -------------------------------------------------------------
    def stars_subscription(self, subscription_id: str) -> StarsSubscription | None:
        """A live Stars subscription record."""
        return self._recurring.get(subscription_id.strip().lower())

    def stars_subscriptions(self, user_id: int) -> list[StarsSubscription]:
        """The user's live Stars subscription records (paid or not), oldest first."""
        items = (self._recurring[key] for key in self._recurring_of.get(user_id, ()))
        return sorted(items, key=lambda item: item.created_at)

    def running_subscriptions(
        self, user_id: int, now: float | None = None
    ) -> list[StarsSubscription]:
        """The user's paid Stars subscriptions inside their period: renewing, or cancelled
        and running to their end."""
        moment = time.time() if now is None else now
        return [item for item in self.stars_subscriptions(user_id) if item.is_running(moment)]

    async def open_subscription(
        self, user_id: int, plan_id: str, now: float | None = None
    ) -> StarsSubscription:
        """The record a Stars subscription link names (its payload): the user's unpaid one
        for this plan (a second press), or a new one. Refused while one for the plan renews."""
        plan = self._subscriptions.plan(plan_id)
        if not 0 < plan.stars <= MAX_SUBSCRIPTION_STARS:
            raise PaymentError("bad_price")
        moment = time.time() if now is None else now
        for record in self.stars_subscriptions(user_id):
            if record.plan_id != plan.id:
                continue
            if record.renews(moment):
                raise PaymentError("already_renewing")
            if (
                record.first_charge_id is None
                and record.refunded_at is None
                and record.stars == plan.stars
                and moment - record.created_at < self._invoice_ttl - REUSE_MARGIN
            ):
                await self._settled(record.id)  # a double tap: the first press's record
                return record
        record = StarsSubscription(
            id=f"{STARS_SUBSCRIPTION_PREFIX}{new_payment_id()}",
            user_id=user_id,
            plan_id=plan.id,
            stars=plan.stars,
            created_at=moment,
            updated_at=moment,
        )
        staged = Staged()
        self._stage_recurring(staged, record)
        await self._commit(staged)
        return record

    def _subscription_checkout_ok(
        self, record: StarsSubscription, user_id: int, currency: str, amount: int
    ) -> bool:
        """The first payment of a subscription link (renewals come without a question):
        refused while the user has a subscription for the plan that renews, or after a
        refund ended this one."""
        now = time.time()
        return (
            record.user_id == user_id
            and currency == "XTR"
            and amount == record.stars
            and record.refunded_at is None
            and self._plan_exists(record.plan_id)
            and not any(
                other.plan_id == record.plan_id and other.renews(now)
                for other in self.stars_subscriptions(user_id)
            )
        )

    async def _accept_charge(self, arrival: MoneyArrival) -> ArrivalOutcome:
        """A charge of a Stars subscription, the first or a renewal: a new paid payment and
        the plan's days (from the plan's current end), in one commit, once per charge id.
        A charge that cannot be credited is recorded as unmatched money."""
        record = self._recurring.get(arrival.reference.strip().lower())
        if record is None or arrival.method != "stars":
            return await self._record_unmatched(arrival, None, "unknown", "no such subscription")
        charge = arrival.external_id
        if charge in record.charges:  # delivered again
            await self._settled(record.id)
            self._seen_money[f"stars:{charge}"] = True
            return ArrivalOutcome(seen_before=True)
        now = time.time()
        # A first charge starts the record over when its previous subscription no longer
        # renews (the user subscribed again through the same link).
        first = record.first_charge_id is None or (
            arrival.first_recurring and not record.renews(now)
        )
        problem = _charge_problem(record, arrival, first, now)
        if problem is not None:
            return await self._record_unmatched(arrival, None, *problem)
        try:
            plan = self._subscriptions.plan(record.plan_id)
        except UnknownPlanError:
            return await self._record_unmatched(arrival, None, "plan_missing")
        payment = Payment(
            id=charge_payment_id(charge),
            user_id=record.user_id,
            plan_id=plan.id,
            method="stars",
            amount=arrival.amount,
            currency="XTR",
            status="paid",
            created_at=now,
            updated_at=now,
            paid_at=now,
            charge_id=charge,
            recurring_id=record.id,
        )
        expires = arrival.expires_at or now + STARS_SUBSCRIPTION_PERIOD
        updated = dataclasses.replace(
            record,
            charges=(*record.charges, charge),
            first_charge_id=charge if first else record.first_charge_id,
            canceled=False if first else record.canceled,
            expires_at=max(expires, 0.0 if first else record.expires_at or 0.0),
            updated_at=now,
        )
        staged = Staged()  # from the check above to here, no await: one credit per charge
        self._stage(staged, payment)
        self._stage_recurring(staged, updated)
        subscription = self._subscriptions.stage_period(
            staged, record.user_id, plan.id, plan.days, f"payment:{payment.id}", now
        )
        self._apply_credit_rules(staged, payment, now)
        self._stage_retried(staged, f"stars:{charge}", now)
        self.outbox.tell(
            staged,
            record.user_id,
            "pay_subscribed" if first else "pay_renewed",
            {"plan": plan.name},
            {"end": subscription.end},
        )
        await self._commit(staged)
        self._seen_money[f"stars:{charge}"] = True
        logger.info(
            "Stars subscription %s charged (%s): payment %s, user %s, plan %s",
            record.id,
            "first" if first else "renewal",
            payment.id,
            record.user_id,
            plan.id,
        )
        result = CreditResult(payment, plan, subscription.end, newly_paid=True, renewal=not first)
        await self._tell_credit(result)
        return ArrivalOutcome(credit=result)

    def begin_renewal_change(
        self, user_id: int, subscription_id: str, *, cancel: bool, now: float | None = None
    ) -> StarsSubscription:
        """Claim the user's running subscription to cancel or resume its renewal with
        Telegram; then `set_renewal`, and `end_renewal_change` whatever happened."""
        moment = time.time() if now is None else now
        record = self.stars_subscription(subscription_id)
        if record is None or record.user_id != user_id or not record.is_running(moment):
            raise PaymentError("not_running")
        if record.canceled == cancel:
            raise PaymentError("unchanged")
        if record.id in self._busy:
            raise PaymentError("in_progress")
        self._busy.add(record.id)
        return record

    def end_renewal_change(self, subscription_id: str) -> None:
        self._busy.discard(subscription_id.strip().lower())

    async def set_renewal(self, subscription_id: str, *, canceled: bool) -> StarsSubscription:
        """Record that Telegram renews the subscription no more, or again."""
        record = self.stars_subscription(subscription_id)
        if record is None:
            raise PaymentError("not_found")
        if record.canceled == canceled:
            return record
        updated = dataclasses.replace(record, canceled=canceled, updated_at=time.time())
        staged = Staged()
        self._stage_recurring(staged, updated)
        await self._commit(staged)
        return updated

    # Decisions --------------------------------------------------------------------
    async def confirm(self, payment_id: str, *, decided_by: int) -> CreditResult:
        """A manager confirms by hand: an SBP payment, or YooMoney money that arrived short.
        YooMoney and Stars invoices otherwise credit themselves when the money arrives, so a
        hand confirmation there would grant a plan for an unpaid invoice."""
        await self._load(payment_id)
        payment = self._require(payment_id)
        if payment.status not in ("pending", "expired"):
            raise PaymentError(f"decided_{payment.status}")
        failed = self._failed_credit_for(payment)
        if failed is not None:  # the money arrived; writing its credit failed
            operation = failed.id.partition(":")[2]
            received = (payment.received_amount or 0.0) + failed.amount
            return await self.credit(
                payment.id,
                decided_by=decided_by,
                received_amount=None if payment.method == "stars" else received,
                operations=() if payment.method == "stars" else (*payment.operations, operation),
                operation_id=None if payment.method == "stars" else operation,
                charge_id=operation if payment.method == "stars" else None,
                retried=failed.id,
            )
        arrived_short = payment.method == "yoomoney" and bool(payment.operations)
        if payment.method != "sbp" and not arrived_short:
            raise PaymentError("not_by_hand")
        return await self.credit(
            payment.id,
            decided_by=decided_by,
            received_amount=payment.received_amount,
            operations=payment.operations,
        )

    def _failed_credit_for(self, payment: Payment) -> UnmatchedMoney | None:
        """An open "error" record of money that arrived for this payment."""
        return next(
            (
                item
                for item in self._unmatched.values()
                if item.reason == "error"
                and item.resolved_at is None
                and item.method == payment.method
                and payment.id in (item.payment_id, item.reference)
            ),
            None,
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
        retried: str | None = None,
    ) -> CreditResult:
        """Mark a payment paid and add its plan period, exactly once, in one commit
        (with the user's notice, through the outbox). `retried` names money whose
        earlier credit failed ("error" record): settled in the same commit.

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
        self._apply_credit_rules(staged, paid, now)
        if retried is not None:
            self._stage_retried(staged, retried, now)
        self.outbox.tell(
            staged, payment.user_id, "pay_success", {"plan": plan.name}, {"end": subscription.end}
        )
        await self._commit(staged)
        logger.info("Payment %s credited: user %s, plan %s", payment.id, payment.user_id, plan.id)
        result = CreditResult(paid, plan, subscription.end, newly_paid=True)
        await self._tell_credit(result)
        return result

    async def _tell_credit(self, result: CreditResult) -> None:
        for listener in self.credit_listeners:
            try:
                await listener(result)
            except Exception:  # telling people must not undo or repeat a credit
                logger.exception("A credit listener failed for payment %s", result.payment.id)

    async def reject(self, payment_id: str, *, reason: str, decided_by: int) -> Payment:
        await self._load(payment_id)
        payment = self._require(payment_id)
        if "rejected" not in TRANSITIONS[payment.status]:
            raise PaymentError(f"not_pending_{payment.status}")
        rejected = self._moved(payment, "rejected", note=reason, decided_by=decided_by)
        staged = Staged()
        self._stage(staged, rejected)
        params = {"payment_id": payment.id, "reason": reason}
        self.outbox.tell(staged, payment.user_id, "pay_rejected", params)  # told once, surely
        await self._commit(staged)
        return rejected

    async def take_receipt(self, payment_id: str, *, attached: bool) -> Payment | None:
        """SBP: the user sent a receipt (`attached`) or pressed "I have paid"; also for an
        expired invoice (money may be late). The invoice, if the managers should get it
        now, else None: at most RECEIPTS_PER_INVOICE receipts are copied to them, and the
        bare press reaches them once. Checked and claimed before the first await."""
        await self._load(payment_id)
        payment = self._require(payment_id)
        if payment.status not in ("pending", "expired"):
            raise PaymentError(f"not_pending_{payment.status}")
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
            age = moment - payment.created_at
            # One a manager still has to check waits longer (and may be confirmed after).
            if age >= max_age + (RECEIPT_WAIT if payment.receipt_sent else 0.0):
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
        """Record a refund (after the money went back) and take the unused period back.

        A charge of a Stars subscription also ends the subscription here: charges that
        still arrive for it are recorded as unmatched money, not credited (the caller
        cancels its renewal with Telegram)."""
        payment = self._require(payment_id)
        staged = Staged()
        refunded = self._stage_refund(staged, payment, decided_by, time.time())
        await self._commit(staged)
        return refunded

    def _stage_refund(
        self, staged: Staged, payment: Payment, decided_by: int | None, now: float
    ) -> Payment:
        """The refund of a paid payment: its status, the unused period taken back, what
        the refund rules take back (a referral bonus), and a Stars subscription ended."""
        if payment.status != "paid":
            raise PaymentError(f"not_paid_{payment.status}")
        refunded = self._moved(payment, "refunded", now=now, decided_by=decided_by)
        self._stage(staged, refunded)
        self._subscriptions.stage_refund(staged, payment.user_id, f"payment:{payment.id}", now)
        for rule in self.refund_rules:
            rule(staged, payment, now)
        record = self._recurring.get(payment.recurring_id or "")
        if record is not None and record.refunded_at is None:
            self._stage_recurring(
                staged, dataclasses.replace(record, refunded_at=now, updated_at=now)
            )
        return refunded

    # Refunds through the outbox -------------------------------------------------------
    async def request_refund(self, payment_id: str, *, decided_by: int) -> OutboxItem:
        """An admin asks to return a Stars payment: the request is saved first (so a
        crash or a flaky Telegram never leaves it half done), then the outbox worker
        calls Telegram and `complete_refund` records it. Refused while one is pending."""
        await self._load(payment_id)
        payment = self._require(payment_id)
        if payment.method != "stars" or not payment.charge_id:
            raise PaymentError("only_stars")
        if payment.status != "paid":
            raise PaymentError(f"not_paid_{payment.status}")
        if payment.id in self._busy or self.outbox.pending_refund(payment.id) is not None:
            raise PaymentError("in_progress")
        item = self.outbox.new(
            "refund_stars",
            payment.user_id,
            charge_id=payment.charge_id,
            payment_id=payment.id,
            requested_by=decided_by,
        )
        await self._request(payment.id, item)
        return item

    async def request_unmatched_refund(self, money_id: str, *, decided_by: int) -> OutboxItem:
        """The same for Stars recorded as not credited (`stars:<charge id>`)."""
        item = self._unmatched.get(money_id)
        if item is None or item.resolved_at is not None:
            raise PaymentError("not_found")
        if item.method != "stars" or item.user_id is None:
            raise PaymentError("not_stars")
        if money_id in self._busy or self.outbox.pending_refund(money_id) is not None:
            raise PaymentError("in_progress")
        request = self.outbox.new(
            "refund_stars",
            item.user_id,
            charge_id=money_id.removeprefix("stars:"),
            payment_id=money_id,
            requested_by=decided_by,
        )
        await self._request(money_id, request)
        return request

    async def _request(self, key: str, item: OutboxItem) -> None:
        self._busy.add(key)  # claimed before the first await: one request at a time
        try:
            staged = Staged()
            self.outbox.stage(staged, item)
            await self._commit(staged)
        finally:
            self._busy.discard(key)

    async def complete_refund(self, item: OutboxItem, now: float | None = None) -> list[OutboxItem]:
        """Telegram returned the Stars (or had already): record it with the request done,
        in one commit, plus what follows: the user told, a subscription's renewal cancelled.
        Returns those follow-ups (the worker runs them at once)."""
        moment = time.time() if now is None else now
        staged = Staged()
        follow_ups: list[OutboxItem] = []
        key = item.payment_id or ""
        if key.startswith("stars:"):
            recorded = self._unmatched.get(key)
            if recorded is not None and recorded.resolved_at is None:
                self._stage_settled(staged, recorded, item.requested_by, moment, "(refunded)")
        else:
            await self._load(key)
            payment = self.get(key)
            if payment is not None and payment.status == "paid":
                self._stage_refund(staged, payment, item.requested_by, moment)
                plan = self._plan_name(payment.plan_id)
                text = "pay_refunded_subscription" if payment.recurring_id else "pay_refunded"
                follow_ups.append(
                    self.outbox.tell(
                        staged, payment.user_id, text, {"payment_id": payment.id, "plan": plan}
                    )
                )
                cancel = self._stage_cancel_after_refund(staged, payment, moment)
                if cancel is not None:
                    follow_ups.append(cancel)
        self.outbox.stage_done(staged, item, moment)
        await self._commit(staged)
        return follow_ups

    def _stage_cancel_after_refund(
        self, staged: Staged, payment: Payment, now: float
    ) -> OutboxItem | None:
        """A refunded charge ends its Stars subscription: Telegram must stop charging."""
        record = self._recurring.get(payment.recurring_id or "")
        if (
            record is None
            or record.first_charge_id is None
            or record.canceled
            or (record.expires_at or 0.0) <= now
        ):
            return None
        item = self.outbox.new(
            "cancel_renewal",
            record.user_id,
            charge_id=record.first_charge_id,
            subscription_id=record.id,
            payment_id=payment.id,
        )
        self.outbox.stage(staged, item)
        return item

    async def complete_cancel(self, item: OutboxItem, now: float | None = None) -> None:
        """Telegram cancelled a subscription's renewal: record it with the request done."""
        staged = Staged()
        record = self.stars_subscription(item.subscription_id or "")
        if record is not None and not record.canceled:
            moment = time.time() if now is None else now
            updated = dataclasses.replace(record, canceled=True, updated_at=moment)
            self._stage_recurring(staged, updated)
        self.outbox.stage_done(staged, item, now)
        await self._commit(staged)

    async def tell_later(self, user_id: int, text: str, params: dict[str, str]) -> None:
        """Tell a user something through the outbox (retried until Telegram takes it)."""
        staged = Staged()
        self.outbox.tell(staged, user_id, text, params)
        await self._commit(staged)

    def _plan_name(self, plan_id: str) -> str:
        try:
            return self._subscriptions.plan(plan_id).name
        except UnknownPlanError:
            return plan_id

    # Internals ----------------------------------------------------------------------
    def _apply_credit_rules(self, staged: Staged, paid: Payment, now: float) -> None:
        """Let the rules add to a credit's transaction (before its commit, no await)."""
        for rule in self.credit_rules:
            try:
                rule(staged, paid, now)
            except Exception:  # a rule stages nothing before it can fail
                logger.exception("A credit rule failed for payment %s", paid.id)

    async def _commit(self, staged: Staged) -> None:
        ids = [payment.id for payment in staged.transaction.payments]
        ids += [item.id for item in staged.transaction.stars_subscriptions]
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

    def _plan_exists(self, plan_id: str) -> bool:
        try:
            self._subscriptions.plan(plan_id)
        except UnknownPlanError:
            return False
        return True

    def _is_subscription_reference(self, reference: str) -> bool:
        key = reference.strip().lower()
        return key.startswith(STARS_SUBSCRIPTION_PREFIX) or key in self._recurring

    def _install_recurring(self, record: StarsSubscription) -> None:
        self._recurring[record.id] = record
        self._recurring_of.setdefault(record.user_id, set()).add(record.id)

    def _forget_recurring(self, record: StarsSubscription) -> None:
        self._recurring.pop(record.id, None)
        ids = self._recurring_of.get(record.user_id)
        if ids is not None:
            ids.discard(record.id)
            if not ids:
                del self._recurring_of[record.user_id]

    def _stage_recurring(self, staged: Staged, record: StarsSubscription) -> None:
        old = self._recurring.get(record.id)
        self._install_recurring(record)
        staged.transaction.stars_subscriptions.append(record)

        def undo() -> None:
            if self._recurring.get(record.id) is record:
                if old is None:
                    self._forget_recurring(record)
                else:
                    self._install_recurring(old)

        staged.on_undo(undo)

    def _plan_end(self, payment: Payment) -> float:
        for item in self._subscriptions.active_plans(payment.user_id):
            if item.plan.id == payment.plan_id:
                return item.end
        return payment.paid_at or 0.0


def _charge_problem(
    record: StarsSubscription, arrival: MoneyArrival, first: bool, now: float
) -> tuple[UnmatchedReason, str] | None:
    """Why a subscription's charge is not credited (it is recorded instead), or None."""
    if arrival.user_id is not None and arrival.user_id != record.user_id:
        return "unknown", f"paid by user {arrival.user_id}, subscription {record.id} is another's"
    if arrival.currency != "XTR":
        return "unknown", f"a subscription charge in {arrival.currency}"
    if record.refunded_at is not None:
        return "refunded", f"Stars subscription {record.id} ended with a refund"
    if arrival.first_recurring and not first:
        return "paid", f"a second subscription through link {record.id} while the first renews"
    return None
