"""Money reports for admins, computed in one streamed pass (plain data, no Telegram types)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from services.models import Payment
from services.money.payments import PaymentService
from services.money.subscriptions import SubscriptionService
from services.operator.stats import FREE, ModelUsage, StatsService
from services.users import UsersService

CSV_FIELDS = (
    "id",
    "user_id",
    "plan_id",
    "method",
    "amount",
    "currency",
    "status",
    "created_at",
    "paid_at",
    "received_amount",
    "operation_id",
    "charge_id",
    "decided_by",
    "note",
    "recurring_id",  # the Stars subscription a charge belongs to
)


@dataclass(slots=True)
class Revenue:
    rub: float = 0.0
    stars: float = 0.0
    count: int = 0

    def in_rub(self, star_rate: float) -> float:
        """RUB received, Stars counted at what the operator gets for each."""
        return self.rub + self.stars * star_rate

    def add(self, payment: Payment) -> None:
        if payment.currency == "XTR":
            self.stars += payment.amount
        else:
            self.rub += payment.received_amount or payment.amount
        self.count += 1


@dataclass(slots=True)
class RevenueReport:
    """Paid payments grouped by day (YYYY-MM-DD), month (YYYY-MM) and method."""

    total: Revenue = field(default_factory=Revenue)
    by_day: dict[str, Revenue] = field(default_factory=lambda: defaultdict(Revenue))
    by_month: dict[str, Revenue] = field(default_factory=lambda: defaultdict(Revenue))
    by_method: dict[str, Revenue] = field(default_factory=lambda: defaultdict(Revenue))
    # (plan id, day) -> revenue
    by_plan_day: dict[tuple[str, str], Revenue] = field(
        default_factory=lambda: defaultdict(Revenue)
    )

    def add(self, payment: Payment, zone: ZoneInfo) -> None:
        day = paid_day(payment, zone).isoformat()
        for revenue in (
            self.total,
            self.by_day[day],
            self.by_month[day[:7]],
            self.by_method[payment.method],
            self.by_plan_day[payment.plan_id, day],
        ):
            revenue.add(payment)

    def by_plan_since(self, day: dt.date) -> dict[str, Revenue]:
        totals: dict[str, Revenue] = defaultdict(Revenue)
        for (plan_id, key), revenue in self.by_plan_day.items():
            if key >= day.isoformat():
                total = totals[plan_id]
                total.rub += revenue.rub
                total.stars += revenue.stars
                total.count += revenue.count
        return dict(totals)

    def since(self, day: dt.date) -> Revenue:
        total = Revenue()
        for key, revenue in self.by_day.items():
            if key >= day.isoformat():
                total.rub += revenue.rub
                total.stars += revenue.stars
                total.count += revenue.count
        return total


def month_start(zone: ZoneInfo) -> float:
    """The first midnight of this month in `zone`."""
    today = dt.datetime.now(zone).date()
    return dt.datetime.combine(today.replace(day=1), dt.time(), zone).timestamp()


def revenue_of(payments: list[Payment]) -> Revenue:
    total = Revenue()
    for payment in payments:
        total.add(payment)
    return total


def paid_day(payment: Payment, zone: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(payment.paid_at or payment.created_at, zone).date()


async def revenue_report(payments: AsyncIterator[Payment], zone: ZoneInfo) -> RevenueReport:
    """One pass over every payment (streamed from storage)."""
    report = RevenueReport()
    async for payment in payments:
        if payment.status == "paid":
            report.add(payment, zone)
    return report


@dataclass(slots=True, frozen=True)
class PlanMargin:
    """A plan's (or the free tier's, plan_id FREE) last 30 days, RUB."""

    plan_id: str
    revenue: float
    cost: float

    @property
    def margin(self) -> float:
        return self.revenue - self.cost


@dataclass(slots=True, frozen=True)
class StatsReport:
    """Everything /stats shows, computed in one place."""

    users_total: int
    new_today: int
    active_7d: int
    active_by_plan: dict[str, int]
    revenue_today: Revenue
    revenue_7d: Revenue
    revenue_30d: Revenue
    models: list[ModelUsage]
    refusals_30d: int
    days: list[dt.date]  # the last 30 days, for the chart
    revenue_by_day: list[float]  # RUB, Stars at star_rate (as the report's margins)
    new_users_by_day: list[int]
    cost_by_day: list[float]  # providers' cost, RUB
    cost_by_model: dict[str, float]
    unpriced: int  # answers in 30 days whose cost is unknown
    star_rate: float  # RUB received per Star
    revenue_by_plan_30d: dict[str, Revenue]
    cost_by_plan: dict[str, float]  # 30 days; FREE: free models without a plan

    def cost_since(self, days: int) -> float:
        return sum(self.cost_by_day[-days:])

    def margin_since(self, days: int) -> float:
        """Revenue (Stars at star_rate) less providers' cost over the last `days` (1, 7, 30)."""
        revenue = {1: self.revenue_today, 7: self.revenue_7d, 30: self.revenue_30d}[days]
        return revenue.in_rub(self.star_rate) - self.cost_since(days)

    def plan_margins(self) -> list[PlanMargin]:
        """Each plan that earned or cost anything in 30 days, the highest revenue first;
        the free tier last."""
        rows = [
            PlanMargin(
                plan_id,
                self.revenue_by_plan_30d.get(plan_id, Revenue()).in_rub(self.star_rate),
                self.cost_by_plan.get(plan_id, 0.0),
            )
            for plan_id in (set(self.revenue_by_plan_30d) | set(self.cost_by_plan)) - {FREE}
        ]
        rows.sort(key=lambda row: (-row.revenue, row.plan_id))
        if FREE in self.cost_by_plan:
            rows.append(PlanMargin(FREE, 0.0, self.cost_by_plan[FREE]))
        return rows


async def stats_report(
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    zone: ZoneInfo,
    star_rate: float,
) -> StatsReport:
    today = stats.today()
    revenue = await revenue_report(payments.history(), zone)
    summary = await stats.summary(30)
    days = [day for day, _ in summary.daily_new_users]
    return StatsReport(
        users_total=await users.count(),
        new_today=summary.new_today,
        active_7d=summary.active_7d,
        active_by_plan=subscriptions.active_counts(),
        revenue_today=revenue.since(today),
        revenue_7d=revenue.since(today - dt.timedelta(days=6)),
        revenue_30d=revenue.since(today - dt.timedelta(days=29)),
        models=summary.models,
        refusals_30d=summary.refusals,
        days=days,
        revenue_by_day=[
            revenue.by_day.get(day.isoformat(), Revenue()).in_rub(star_rate) for day in days
        ],
        new_users_by_day=[count for _, count in summary.daily_new_users],
        cost_by_day=[cost for _, cost in summary.daily_cost],
        cost_by_model=summary.cost_by_model,
        unpriced=summary.unpriced,
        star_rate=star_rate,
        revenue_by_plan_30d=revenue.by_plan_since(today - dt.timedelta(days=29)),
        cost_by_plan=summary.cost_by_plan,
    )


def csv_row(payment: Payment, zone: ZoneInfo) -> list[object]:
    """A payment as the CSV export's row (CSV_FIELDS), times in `zone`."""
    row: list[object] = []
    for name in CSV_FIELDS:
        value = getattr(payment, name)
        if name in ("created_at", "paid_at") and value:
            value = dt.datetime.fromtimestamp(value, zone).isoformat(timespec="seconds")
        row.append("" if value is None else value)
    return row
