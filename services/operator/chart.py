"""The admin's 30-day chart (revenue, providers' cost and new users per day) as PNG bytes."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REVENUE_COLOR = "#1e8e3e"  # green: money in
COST_COLOR = "#d93025"  # red: money out
USERS_COLOR = "#4c8bf5"  # blue, dashed, on its own axis


@dataclass(frozen=True, slots=True)
class ChartLabels:
    """The chart's words, in the admin's language."""

    title: str
    revenue: str
    cost: str
    new_users: str
    money_axis: str
    users_axis: str


def daily_figure(
    days: list[dt.date],
    revenue_rub: list[float],
    new_users: list[int],
    labels: ChartLabels,
    cost_rub: list[float] | None = None,
) -> Figure:
    """Lines of revenue and of providers' cost (left axis, RUB) and of new users (right
    axis, dashed), one legend for all three.

    Uses the Figure API (not pyplot), so it is safe to run in a worker thread.
    matplotlib (≈40 MB) is imported on the first chart, not at start-up.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.5), dpi=100)
    money_axis = figure.subplots()
    ticks = [day.strftime("%d.%m") for day in days]
    lines = money_axis.plot(
        ticks, revenue_rub, color=REVENUE_COLOR, marker="o", linewidth=2, label=labels.revenue
    )
    if cost_rub is not None:
        lines += money_axis.plot(
            ticks, cost_rub, color=COST_COLOR, marker=".", linewidth=1.5, label=labels.cost
        )
    money_axis.set_ylabel(labels.money_axis)
    money_axis.set_ylim(bottom=0)
    money_axis.tick_params(axis="x", rotation=60, labelsize=8)
    money_axis.grid(axis="y", alpha=0.3)
    users_axis = money_axis.twinx()
    lines += users_axis.plot(
        ticks,
        new_users,
        color=USERS_COLOR,
        marker="s",
        markersize=3,
        linestyle="--",
        label=labels.new_users,
    )
    users_axis.set_ylabel(labels.users_axis)
    users_axis.set_ylim(bottom=0)
    money_axis.legend(lines, [str(line.get_label()) for line in lines], loc="upper left")
    money_axis.set_title(labels.title)
    figure.tight_layout()
    return figure


def daily_chart(
    days: list[dt.date],
    revenue_rub: list[float],
    new_users: list[int],
    labels: ChartLabels,
    cost_rub: list[float] | None = None,
) -> bytes:
    """`daily_figure` as PNG bytes."""
    buffer = io.BytesIO()
    daily_figure(days, revenue_rub, new_users, labels, cost_rub).savefig(buffer, format="png")
    return buffer.getvalue()
