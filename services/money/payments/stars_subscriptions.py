"""The Stars subscriptions ledger: a link's record (its id is the link's payload), each
charge Telegram makes credited once as a paid payment of its own, the renewal cancelled
or resumed, and the end a refund puts to it."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable

from services.models import OutboxItem, Payment, StarsSubscription, UnmatchedReason
from services.money.outbox import OutboxService
from services.money.payments.commits import Claims, PaymentCommits
from services.money.payments.credits import Credits
from services.money.payments.errors import PaymentError, PaymentRefusal
from services.money.payments.invoices import Invoices
from services.money.payments.records import (
    MAX_SUBSCRIPTION_STARS,
    REUSE_MARGIN,
    STARS_SUBSCRIPTION_PERIOD,
    STARS_SUBSCRIPTION_PREFIX,
    ArrivalOutcome,
    CreditResult,
    MoneyArrival,
    charge_payment_id,
    new_payment_id,
    period_source,
)
from services.money.payments.unmatched import UnmatchedLedger
from services.money.staging import Staged, Table
from services.money.subscriptions import SubscriptionService, UnknownPlanError
from services.storage.base import Retention, Transaction

logger = logging.getLogger(__name__)


def _stars_subscriptions(transaction: Transaction) -> list[StarsSubscription]:
    return transaction.stars_subscriptions


class StarsSubscriptionTable(Table[str, StarsSubscription]):
    """Stars subscription records by id, and each user's."""

    def __init__(self) -> None:
        super().__init__(lambda record: record.id, _stars_subscriptions)
        self._of_user: dict[int, set[str]] = {}

    def install(self, record: StarsSubscription) -> None:
        super().install(record)
        self._of_user.setdefault(record.user_id, set()).add(record.id)

    def remove(self, record: StarsSubscription) -> None:
        super().remove(record)
        ids = self._of_user.get(record.user_id)
        if ids is not None:
            ids.discard(record.id)
            if not ids:
                del self._of_user[record.user_id]

    def of_user(self, user_id: int) -> list[StarsSubscription]:
        """The user's records, oldest first."""
        items = [self._records[key] for key in self._of_user.get(user_id, ())]
        return sorted(items, key=lambda item: item.created_at)


class StarsSubscriptions:
    def __init__(
        self,
        commits: PaymentCommits,
        claims: Claims,
        invoices: Invoices,
        unmatched: UnmatchedLedger,
        credits: Credits,
        subscriptions: SubscriptionService,
        outbox: OutboxService,
        retention: Retention,
        invoice_ttl: float,
    ) -> None:
        self._commits = commits
        self._claims = claims
        self._invoices = invoices
        self._unmatched = unmatched
        self._credits = credits
        self._subscriptions = subscriptions
        self._outbox = outbox
        self._retention = retention
        self._invoice_ttl = invoice_ttl
        self.table = StarsSubscriptionTable()

    def load(self, records: Iterable[StarsSubscription]) -> None:
        for record in records:
            self.table.install(record)

    def prune(self, moment: float) -> None:
        for record in list(self.table.values()):
            if not self._retention.stars_subscription_is_live(record, moment):
                self.table.remove(record)

    # Queries ----------------------------------------------------------------------
    def get(self, subscription_id: str) -> StarsSubscription | None:
        """A live Stars subscription record."""
        return self.table.get(subscription_id.strip().lower())

    def of_user(self, user_id: int) -> list[StarsSubscription]:
        """The user's live Stars subscription records (paid or not), oldest first."""
        return self.table.of_user(user_id)

    def running(self, user_id: int, now: float | None = None) -> list[StarsSubscription]:
        """The user's paid Stars subscriptions inside their period: renewing, or cancelled
        and running to their end."""
        moment = time.time() if now is None else now
        return [item for item in self.of_user(user_id) if item.is_running(moment)]

    def is_reference(self, reference: str) -> bool:
        """Does an arrival's reference name a Stars subscription?"""
        key = reference.strip().lower()
        return key.startswith(STARS_SUBSCRIPTION_PREFIX) or key in self.table

    def checkout_ok(
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
                for other in self.of_user(user_id)
            )
        )

    # A link --------------------------------------------------------------------------
    async def open(self, user_id: int, plan_id: str, now: float | None = None) -> StarsSubscription:
        """The record a Stars subscription link names (its payload): the user's unpaid one
        for this plan (a second press), or a new one. Refused while one for the plan renews."""
        plan = self._subscriptions.plan(plan_id)
        if not 0 < plan.stars <= MAX_SUBSCRIPTION_STARS:
            raise PaymentError(PaymentRefusal.BAD_PRICE)
        moment = time.time() if now is None else now
        for record in self.of_user(user_id):
            if record.plan_id != plan.id:
                continue
            if record.renews(moment):
                raise PaymentError(PaymentRefusal.ALREADY_RENEWING)
            if (
                record.first_charge_id is None
                and record.refunded_at is None
                and record.stars == plan.stars
                and moment - record.created_at < self._invoice_ttl - REUSE_MARGIN
            ):
                await self._commits.settled(record.id)  # a double tap: the first press's
                return record
        record = StarsSubscription(
            id=f"{STARS_SUBSCRIPTION_PREFIX}{new_payment_id()}",
            user_id=user_id,
            plan_id=plan.id,
            stars=plan.stars,
            created_at=moment,
            updated_at=moment,
        )
        await self._write(record)
        return record

    # A charge ------------------------------------------------------------------------
    async def accept_charge(self, arrival: MoneyArrival) -> ArrivalOutcome:
        """A charge of a Stars subscription, the first or a renewal: a new paid payment and
        the plan's days (from the plan's current end), in one commit, once per charge id.
        A charge that cannot be credited is recorded as unmatched money."""
        record = self.get(arrival.reference)
        if record is None or arrival.method != "stars":
            return await self._unmatched.record_arrival(
                arrival, None, "unknown", "no such subscription"
            )
        charge = arrival.external_id
        if charge in record.charges:  # delivered again
            await self._commits.settled(record.id)
            self._unmatched.seen[arrival.money_id] = True
            return ArrivalOutcome(seen_before=True)
        now = time.time()
        # A first charge starts the record over when its previous subscription no longer
        # renews (the user subscribed again through the same link).
        first = record.first_charge_id is None or (
            arrival.first_recurring and not record.renews(now)
        )
        problem = _charge_problem(record, arrival, first)
        if problem is not None:
            return await self._unmatched.record_arrival(arrival, None, *problem)
        try:
            plan = self._subscriptions.plan(record.plan_id)
        except UnknownPlanError:
            return await self._unmatched.record_arrival(arrival, None, "plan_missing")
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
        self._invoices.table.stage(staged, payment)
        self.table.stage(staged, updated)
        subscription = self._subscriptions.stage_period(
            staged, record.user_id, plan.id, plan.days, period_source(payment), now
        )
        self._credits.apply_rules(staged, payment, now)
        self._unmatched.stage_retried(staged, arrival.money_id, now)
        self._outbox.tell(
            staged,
            record.user_id,
            "pay_subscribed" if first else "pay_renewed",
            {"plan": plan.name},
            {"end": subscription.end},
        )
        await self._commits.commit(staged)
        self._unmatched.seen[arrival.money_id] = True
        logger.info(
            "Stars subscription %s charged (%s): payment %s, user %s, plan %s",
            record.id,
            "first" if first else "renewal",
            payment.id,
            record.user_id,
            plan.id,
        )
        result = CreditResult(payment, plan, subscription.end, newly_paid=True, renewal=not first)
        await self._credits.tell(result)
        return ArrivalOutcome(credit=result)

    # Renewal ---------------------------------------------------------------------------
    def begin_renewal_change(
        self, user_id: int, subscription_id: str, *, cancel: bool, now: float | None = None
    ) -> StarsSubscription:
        """Claim the user's running subscription to cancel or resume its renewal with
        Telegram; then `set_renewal`, and `end_renewal_change` whatever happened."""
        moment = time.time() if now is None else now
        record = self.get(subscription_id)
        if record is None or record.user_id != user_id or not record.is_running(moment):
            raise PaymentError(PaymentRefusal.NOT_RUNNING)
        if record.canceled == cancel:
            raise PaymentError(PaymentRefusal.UNCHANGED)
        self._claims.claim(record.id)
        return record

    def end_renewal_change(self, subscription_id: str) -> None:
        self._claims.release(subscription_id.strip().lower())

    async def set_renewal(self, subscription_id: str, *, canceled: bool) -> StarsSubscription:
        """Record that Telegram renews the subscription no more, or again."""
        record = self.get(subscription_id)
        if record is None:
            raise PaymentError(PaymentRefusal.NOT_FOUND)
        if record.canceled == canceled:
            return record
        updated = dataclasses.replace(record, canceled=canceled, updated_at=time.time())
        await self._write(updated)
        return updated

    async def complete_cancel(self, item: OutboxItem, now: float | None = None) -> None:
        """Telegram cancelled a subscription's renewal: record it with the request done."""
        staged = Staged()
        record = self.get(item.subscription_id or "")
        if record is not None and not record.canceled:
            moment = time.time() if now is None else now
            self.table.stage(staged, dataclasses.replace(record, canceled=True, updated_at=moment))
        self._outbox.stage_done(staged, item, now)
        await self._commits.commit(staged)

    # A refund ends it ----------------------------------------------------------------------
    def stage_refunded(self, staged: Staged, payment: Payment, now: float) -> None:
        """A refunded charge ends its subscription: later charges are not credited."""
        record = self.table.get(payment.recurring_id or "")
        if record is not None and record.refunded_at is None:
            self.table.stage(staged, dataclasses.replace(record, refunded_at=now, updated_at=now))

    def stage_cancel_after_refund(
        self, staged: Staged, payment: Payment, now: float
    ) -> OutboxItem | None:
        """A refunded charge ends its Stars subscription: Telegram must stop charging."""
        record = self.table.get(payment.recurring_id or "")
        if (
            record is None
            or record.first_charge_id is None
            or record.canceled
            or (record.expires_at or 0.0) <= now
        ):
            return None
        item = self._outbox.new(
            "cancel_renewal",
            record.user_id,
            charge_id=record.first_charge_id,
            subscription_id=record.id,
            payment_id=payment.id,
        )
        self._outbox.stage(staged, item)
        return item

    # Internals ----------------------------------------------------------------------
    async def _write(self, record: StarsSubscription) -> None:
        staged = Staged()
        self.table.stage(staged, record)
        await self._commits.commit(staged)

    def _plan_exists(self, plan_id: str) -> bool:
        try:
            self._subscriptions.plan(plan_id)
        except UnknownPlanError:
            return False
        return True


def _charge_problem(
    record: StarsSubscription, arrival: MoneyArrival, first: bool
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
