"""The admin's 30-day chart (revenue and new users per day) as PNG bytes."""

from __future__ import annotations

import datetime as dt
import io


def daily_chart(
    days: list[dt.date],
    revenue_rub: list[float],
    new_users: list[int],
    title: str,
    cost_rub: list[float] | None = None,
) -> bytes:
    """Bars of revenue and a line of providers' cost (left axis, RUB) and a line of new
    users (right axis).

    Uses the Figure API (not pyplot), so it is safe to run in a worker thread.
    matplotlib (≈40 MB) is imported on the first chart, not at start-up.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.5), dpi=100)
    revenue_axis = figure.subplots()
    labels = [day.strftime("%d.%m") for day in days]
    revenue_axis.bar(labels, revenue_rub, color="#4c8bf5", label="RUB")
    if cost_rub is not None:
        revenue_axis.plot(labels, cost_rub, color="#d93025", marker=".", label="cost")
    revenue_axis.set_ylabel("RUB")
    revenue_axis.tick_params(axis="x", rotation=60, labelsize=8)
    users_axis = revenue_axis.twinx()
    users_axis.plot(labels, new_users, color="#e8710a", marker="o", label="new users")
    users_axis.set_ylabel("new users")
    users_axis.set_ylim(bottom=0)
    revenue_axis.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
