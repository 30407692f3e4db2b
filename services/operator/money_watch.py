"""Alerts on money leaks, each at most once a day: a user who costs more than they paid
this month, a day's provider cost over a threshold, a model whose share of cost jumps."""

from __future__ import annotations

from collections import defaultdict
from zoneinfo import ZoneInfo

from services.money.payments import PaymentService
from services.operator.alerts import AlertService
from services.operator.reports import month_start, revenue_of
from services.operator.stats import StatsService

SHARE_JUMP = 0.25  # a model's share of today's cost this much above its 7-day share
MIN_COST_FOR_SHARE = 100.0  # RUB today before shares are compared at all
TOP_USERS = 50  # the costliest users of the month compared with what they paid


class MoneyWatch:
    def __init__(
        self,
        stats: StatsService,
        payments: PaymentService,
        alerts: AlertService,
        zone: ZoneInfo,
        *,
        daily_cost_limit: float | None,
        star_rate: float,
    ) -> None:
        self._star_rate = star_rate
        self._stats = stats
        self._payments = payments
        self._alerts = alerts
        self._zone = zone
        self._daily_cost_limit = daily_cost_limit
        self._told: set[str] = set()  # "<date>:<what>" already alerted today

    async def check(self) -> list[str]:
        """Look once; returns the alerts sent now."""
        today = self._stats.today()
        self._told = {key for key in self._told if key.startswith(today.isoformat())}
        found = [*await self._day_over_limit(), *await self._share_jumps(), *await self._losses()]
        sent = []
        for what, text in found:
            key = f"{today.isoformat()}:{what}"
            if key in self._told:
                continue
            self._told.add(key)
            await self._alerts.alert(f"money:{key}", text)
            sent.append(text)
        return sent

    async def _day_over_limit(self) -> list[tuple[str, str]]:
        if self._daily_cost_limit is None:
            return []
        ((_, today),) = await self._stats.last_days(1)
        if today.cost <= self._daily_cost_limit:
            return []
        return [
            (
                "day",
                f"Provider cost today is {today.cost:.2f} RUB, over the limit of "
                f"{self._daily_cost_limit:.2f} RUB (DAILY_COST_ALERT_RUB)",
            )
        ]

    async def _share_jumps(self) -> list[tuple[str, str]]:
        window = await self._stats.last_days(8)
        today = window[-1][1].cost_by_model()
        total = sum(today.values())
        if total < MIN_COST_FOR_SHARE:
            return []
        before: dict[str, float] = defaultdict(float)
        for _, stats in window[:-1]:
            for model, cost in stats.cost_by_model().items():
                before[model] += cost
        before_total = sum(before.values())
        if not before_total:  # no week to compare with (a fresh deployment)
            return []
        found = []
        for model, cost in today.items():
            share = cost / total
            usual = before[model] / before_total
            if share - usual >= SHARE_JUMP:
                found.append(
                    (
                        f"share:{model}",
                        f"Model {model} takes {share:.0%} of today's provider cost "
                        f"(usually {usual:.0%} over the last 7 days)",
                    )
                )
        return found

    async def _losses(self) -> list[tuple[str, str]]:
        top = await self._stats.top_spenders(TOP_USERS)
        if not top:
            return []
        paid: dict[int, float] = defaultdict(float)
        users = {user for user, _ in top}
        for payment in await self._payments.paid_since(month_start(self._zone)):
            if payment.user_id in users:
                paid[payment.user_id] += revenue_of([payment]).in_rub(self._star_rate)
        return [
            (
                f"user:{user}",
                f"User {user} cost {cost:.2f} RUB in provider fees this month but paid "
                f"{paid[user]:.2f} RUB",
            )
            for user, cost in top
            if 0 < paid[user] < cost  # free users are bounded by their quotas instead
        ]
