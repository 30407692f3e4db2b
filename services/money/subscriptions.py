"""Plans a user holds: granting, extending, revoking, expiry reminders."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass

from services.catalog import Catalog, Plan
from services.models import Period, Subscription
from services.money.staging import InFlight, Staged, StagedTable
from services.money.sync import MoneySync, synced
from services.storage.base import Retention, Storage, Transaction

DAY = 86_400.0
# Reminder kind -> how long before the end it is due; "ended" is due at the end.
REMINDERS = (("3d", 3 * DAY), ("1d", 1 * DAY), ("ended", 0.0))
# An ended plan is only announced if it ended this recently (no spam after downtime).
ENDED_NOTICE_WINDOW = 2 * DAY
YIELD_EVERY = 2_000  # records a periodic round handles between yields to the event loop


class UnknownPlanError(Exception):
    """The plan id is not in the catalog."""


@dataclass(slots=True, frozen=True)
class ActivePlan:
    plan: Plan
    end: float


@dataclass(slots=True, frozen=True)
class Reminder:
    user_id: int
    plan: Plan
    kind: str  # "3d", "1d" or "ended"
    end: float


class HeldPlans(StagedTable[tuple[int, str], Subscription]):
    """The live subscriptions by user and plan. Each user's are one tuple (a user holds a
    few plans at most): a dict per user cost four times as much, for each of the tens of
    thousands of subscribers."""

    def __init__(self) -> None:
        self.by_user: dict[int, tuple[Subscription, ...]] = {}

    def key_of(self, record: Subscription) -> tuple[int, str]:
        return record.user_id, record.plan_id

    def rows(self, transaction: Transaction) -> list[Subscription]:
        return transaction.subscriptions

    def get(self, key: tuple[int, str]) -> Subscription | None:
        user_id, plan_id = key
        return next((s for s in self.by_user.get(user_id, ()) if s.plan_id == plan_id), None)

    def install(self, record: Subscription) -> None:
        """Put `record` in the place of the user's one for its plan (or last)."""
        user_id, held = record.user_id, self.by_user.get(record.user_id, ())
        for index, current in enumerate(held):
            if current.plan_id == record.plan_id:
                self.by_user[user_id] = (*held[:index], record, *held[index + 1 :])
                return
        self.by_user[user_id] = (*held, record)

    def remove(self, record: Subscription) -> None:
        held = self.by_user.get(record.user_id, ())
        kept = tuple(s for s in held if s is not record)
        if kept:
            self.by_user[record.user_id] = kept
        else:
            self.by_user.pop(record.user_id, None)


class SubscriptionService:
    """Keeps the live subscriptions in memory; every change is committed through storage.

    Subscriptions are immutable: a change installs a new copy (see `StagedTable`).
    """

    def __init__(self, storage: Storage, catalog: Catalog, sync: MoneySync | None = None) -> None:
        self.sync = sync if sync is not None else MoneySync(storage)
        self._storage = storage
        self._catalog = catalog
        self._held = HeldPlans()
        self._by_user = self._held.by_user  # the same dict, read directly on hot paths
        self._in_flight = InFlight()

    def load(self, subscriptions: Iterable[Subscription]) -> None:
        by_user = self._by_user
        for subscription in subscriptions:
            if subscription.user_id in by_user:
                self._held.install(subscription)  # another plan of the same user: rare
            else:
                by_user[subscription.user_id] = (subscription,)

    def absorb(self, transaction: Transaction) -> None:
        """Take in subscriptions another process committed (see MoneySync)."""
        for subscription in transaction.subscriptions:
            self._held.install(subscription)

    def prune(self, retention: Retention, now: float | None = None) -> None:
        """Forget subscriptions that left the live set (they stay in the archive)."""
        moment = time.time() if now is None else now
        for user_id, held in list(self._by_user.items()):
            kept = tuple(s for s in held if retention.subscription_is_live(s, moment))
            if not kept:
                del self._by_user[user_id]
            elif len(kept) < len(held):
                self._by_user[user_id] = kept

    def _get(self, user_id: int, plan_id: str) -> Subscription | None:
        return self._held.get((user_id, plan_id))

    # Queries ----------------------------------------------------------------------
    def active_plans(self, user_id: int, now: float | None = None) -> list[ActivePlan]:
        """Plans active at `now`, with the end of their current run of periods."""
        moment = time.time() if now is None else now
        active = []
        for subscription in self._by_user.get(user_id, ()):
            plan = self._catalog.plans_by_id.get(subscription.plan_id)
            if plan is not None and subscription.is_active(moment):
                active.append(ActivePlan(plan, subscription.end))
        return sorted(active, key=lambda item: item.end)

    def subscriptions(self) -> list[Subscription]:
        return [sub for held in self._by_user.values() for sub in held]

    def active_counts(self, now: float | None = None) -> dict[str, int]:
        """Active subscriptions per plan id."""
        moment = time.time() if now is None else now
        counts: dict[str, int] = {}
        for subscription in self.subscriptions():
            if subscription.is_active(moment):
                counts[subscription.plan_id] = counts.get(subscription.plan_id, 0) + 1
        return counts

    def has_source(self, user_id: int, source: str) -> bool:
        held = self._by_user.get(user_id, ())
        return any(subscription.has_source(source) for subscription in held)

    def plan(self, plan_id: str) -> Plan:
        plan = self._catalog.plans_by_id.get(plan_id)
        if plan is None:
            raise UnknownPlanError(plan_id)
        return plan

    # Changes ----------------------------------------------------------------------
    def stage(self, staged: Staged, subscription: Subscription) -> None:
        """Install a new version in memory now and add it to the commit."""
        self._held.stage(staged, subscription)

    def stage_period(
        self,
        staged: Staged,
        user_id: int,
        plan_id: str,
        days: int,
        source: str,
        now: float | None = None,
    ) -> Subscription:
        """Add `days` of a plan, from its current end if still active.

        Idempotent on `source`: a payment or promo code never adds two periods.
        """
        self.plan(plan_id)
        moment = time.time() if now is None else now
        current = self._get(user_id, plan_id) or Subscription(user_id, plan_id)
        if current.has_source(source):
            return current
        start = max(moment, current.end)
        period = Period(start=start, end=start + days * DAY, source=source)
        updated = dataclasses.replace(current, periods=(*current.periods, period))
        self.stage(staged, updated)
        return updated

    @synced
    async def grant(
        self, user_id: int, plan_id: str, days: int, source: str, now: float | None = None
    ) -> Subscription:
        """Add a period and persist it; returns once it is durable (also when another
        caller with the same `source` is writing it right now)."""
        staged = Staged()
        subscription = self.stage_period(staged, user_id, plan_id, days, source, now)
        if staged.transaction:
            await self._in_flight.commit(staged, self._storage, [subscription.key])
        else:
            await self._in_flight.settled(subscription.key)
        return subscription

    @synced
    async def revoke(
        self, user_id: int, plan_id: str | None = None, now: float | None = None
    ) -> list[str]:
        """End a plan (or all plans) now; returns the plan ids that were active."""
        moment = time.time() if now is None else now
        staged = Staged()
        revoked = []
        for subscription in self._by_user.get(user_id, ()):
            if plan_id is not None and subscription.plan_id != plan_id:
                continue
            if subscription.end <= moment:
                continue
            periods = tuple(
                Period(p.start, min(p.end, moment), p.source)
                for p in subscription.periods
                if p.start < moment
            )
            marks = (*subscription.reminders_sent, f"revoked:{moment}")
            self.stage(
                staged,
                dataclasses.replace(subscription, periods=periods, reminders_sent=marks),
            )
            revoked.append(subscription.plan_id)
        await staged.commit(self._storage)
        return revoked

    def stage_refund(
        self, staged: Staged, user_id: int, source: str, now: float | None = None
    ) -> bool:
        """Take back the unused part of the period `source` bought; later periods move up.

        A period that has already ended is left as it is (nothing unused to take back).
        """
        moment = time.time() if now is None else now
        for subscription in self._by_user.get(user_id, ()):
            period = next((p for p in subscription.periods if p.source == source), None)
            if period is None:
                continue
            if period.end <= moment:
                return False
            unused = period.end - max(period.start, moment)
            kept = []
            for other in subscription.periods:
                if other is period:
                    if period.start < moment:  # the used part stays as history
                        kept.append(Period(period.start, moment, f"{source}:refunded"))
                elif other.start >= period.end:
                    kept.append(Period(other.start - unused, other.end - unused, other.source))
                else:
                    kept.append(other)
            self.stage(staged, dataclasses.replace(subscription, periods=tuple(kept)))
            return True
        return False

    # Reminders ----------------------------------------------------------------------
    @synced
    async def take_due_reminders(self, now: float | None = None) -> list[Reminder]:
        """Reminders due now, marked as sent in one commit first, so none goes out twice."""
        moment = time.time() if now is None else now
        due: list[Reminder] = []
        staged = Staged()
        keys = [(s.user_id, s.plan_id) for s in self.subscriptions()]
        for index, (user_id, plan_id) in enumerate(keys):
            if index and not index % YIELD_EVERY:
                await asyncio.sleep(0)  # a long round must not stall the event loop
            subscription = self._get(user_id, plan_id)  # the newest version
            plan = self._catalog.plans_by_id.get(plan_id)
            if subscription is None or plan is None or not subscription.periods:
                continue
            end = subscription.end
            reminder = self._due_reminder(subscription, end, moment)
            if reminder is None:
                continue
            # Mark this one and every earlier kind, so a late start sends one message.
            marks = list(subscription.reminders_sent)
            for kind, _ in REMINDERS:
                mark = f"{kind}:{end:.0f}"
                if mark not in marks:
                    marks.append(mark)
                if kind == reminder:
                    break
            self.stage(staged, dataclasses.replace(subscription, reminders_sent=tuple(marks)))
            due.append(Reminder(subscription.user_id, plan, reminder, end))
        await staged.commit(self._storage)
        return due

    @staticmethod
    def _due_reminder(subscription: Subscription, end: float, now: float) -> str | None:
        """The most urgent reminder kind not yet sent for this end, if any is due."""
        if any(
            mark.startswith("revoked:") and float(mark[8:]) >= end
            for mark in subscription.reminders_sent
        ):
            return None  # an admin ended it; no reminders for that end
        chosen = None
        for kind, before in REMINDERS:
            if now >= end - before and f"{kind}:{end:.0f}" not in subscription.reminders_sent:
                chosen = kind
        if chosen == "ended" and now - end > ENDED_NOTICE_WINDOW:
            return None
        return chosen
