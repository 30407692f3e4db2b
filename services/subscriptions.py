"""Plans a user holds: granting, extending, revoking, expiry reminders."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.catalog import Catalog, Plan
from services.models import Period, Subscription
from services.storage.base import Storage

DAY = 86_400.0
# Reminder kind -> how long before the end it is due; "ended" is due at the end.
REMINDERS = (("3d", 3 * DAY), ("1d", 1 * DAY), ("ended", 0.0))
# An ended plan is only announced if it ended this recently (no spam after downtime).
ENDED_NOTICE_WINDOW = 2 * DAY


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


class SubscriptionService:
    """Keeps every subscription in memory and writes each change through storage."""

    def __init__(self, storage: Storage, catalog: Catalog) -> None:
        self._storage = storage
        self._catalog = catalog
        self._by_user: dict[int, dict[str, Subscription]] = {}

    async def load(self) -> None:
        for subscription in await self._storage.all_subscriptions():
            self._by_user.setdefault(subscription.user_id, {})[subscription.plan_id] = subscription

    # Queries ----------------------------------------------------------------------
    def active_plans(self, user_id: int, now: float | None = None) -> list[ActivePlan]:
        """Plans active at `now`, with the end of their current run of periods."""
        moment = time.time() if now is None else now
        active = []
        for plan_id, subscription in self._by_user.get(user_id, {}).items():
            plan = self._catalog.plans_by_id.get(plan_id)
            if plan is not None and subscription.is_active(moment):
                active.append(ActivePlan(plan, subscription.end))
        return sorted(active, key=lambda item: item.end)

    def subscriptions(self) -> list[Subscription]:
        return [sub for plans in self._by_user.values() for sub in plans.values()]

    def has_source(self, user_id: int, source: str) -> bool:
        plans = self._by_user.get(user_id, {})
        return any(subscription.has_source(source) for subscription in plans.values())

    # Changes ----------------------------------------------------------------------
    def plan(self, plan_id: str) -> Plan:
        plan = self._catalog.plans_by_id.get(plan_id)
        if plan is None:
            raise UnknownPlanError(plan_id)
        return plan

    def add_period(
        self, user_id: int, plan_id: str, days: int, source: str, now: float | None = None
    ) -> Subscription:
        """Add `days` of a plan in memory, from its current end if still active.

        Idempotent on `source`: a payment or promo code never adds two periods.
        The caller must `await save(...)` before confirming anything to the user.
        """
        self.plan(plan_id)
        moment = time.time() if now is None else now
        subscription = self._by_user.setdefault(user_id, {}).setdefault(
            plan_id, Subscription(user_id, plan_id, periods=[], reminders_sent=[])
        )
        if subscription.has_source(source):
            return subscription
        start = max(moment, subscription.end)
        subscription.periods.append(Period(start=start, end=start + days * DAY, source=source))
        return subscription

    async def grant(
        self, user_id: int, plan_id: str, days: int, source: str, now: float | None = None
    ) -> Subscription:
        """Add a period and persist it; returns once it is durable."""
        subscription = self.add_period(user_id, plan_id, days, source, now)
        await self.save(subscription)
        return subscription

    async def revoke(
        self, user_id: int, plan_id: str | None = None, now: float | None = None
    ) -> list[str]:
        """End a plan (or all plans) now; returns the plan ids that were active."""
        moment = time.time() if now is None else now
        revoked = []
        for subscription in list(self._by_user.get(user_id, {}).values()):
            if plan_id is not None and subscription.plan_id != plan_id:
                continue
            if subscription.end <= moment:
                continue
            subscription.periods = [
                Period(p.start, min(p.end, moment), p.source)
                for p in subscription.periods
                if p.start < moment
            ]
            subscription.reminders_sent.append(f"revoked:{moment}")
            revoked.append(subscription.plan_id)
            await self.save(subscription)
        return revoked

    async def remove_source(self, user_id: int, source: str, now: float | None = None) -> bool:
        """Take back the period bought by `source` (a refund); later periods move up."""
        moment = time.time() if now is None else now
        for subscription in self._by_user.get(user_id, {}).values():
            period = next((p for p in subscription.periods if p.source == source), None)
            if period is None:
                continue
            unused = max(0.0, period.end - max(period.start, moment))
            kept = []
            for other in subscription.periods:
                if other is period:
                    if period.start < moment:  # the used part stays as history
                        kept.append(Period(period.start, moment, f"{source}:refunded"))
                elif other.start >= period.end:
                    kept.append(Period(other.start - unused, other.end - unused, other.source))
                else:
                    kept.append(other)
            subscription.periods = kept
            await self.save(subscription)
            return True
        return False

    async def save(self, subscription: Subscription) -> None:
        await self._storage.save_subscription(subscription)

    # Reminders ----------------------------------------------------------------------
    async def take_due_reminders(self, now: float | None = None) -> list[Reminder]:
        """Reminders due now, marked as sent and saved first so none goes out twice."""
        moment = time.time() if now is None else now
        due: list[Reminder] = []
        for subscription in self.subscriptions():
            plan = self._catalog.plans_by_id.get(subscription.plan_id)
            if plan is None or not subscription.periods:
                continue
            end = subscription.end
            reminder = self._due_reminder(subscription, end, moment)
            if reminder is None:
                continue
            # Mark this one and every earlier kind, so a late start sends one message.
            for kind, _ in REMINDERS:
                mark = f"{kind}:{end:.0f}"
                if mark not in subscription.reminders_sent:
                    subscription.reminders_sent.append(mark)
                if kind == reminder:
                    break
            await self.save(subscription)
            due.append(Reminder(subscription.user_id, plan, reminder, end))
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
