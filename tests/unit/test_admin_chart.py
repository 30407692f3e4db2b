"""The /stats chart: revenue drawn as a line of its own, a legend, the admin's words."""

from __future__ import annotations

import datetime as dt
from typing import Any

from matplotlib.lines import Line2D

from handlers.admin.stats import chart_labels
from services.operator.chart import REVENUE_COLOR, daily_chart, daily_figure
from texts import get_texts


def ydata(line: Line2D) -> list[Any]:
    values: Any = line.get_ydata()
    return [float(value) for value in values]


def test_the_chart_draws_revenue_cost_and_users_with_a_legend_in_russian() -> None:
    days = [dt.date(2026, 12, 1) + dt.timedelta(days=n) for n in range(30)]
    revenue = [0.0] * 29 + [1524.75]
    cost = [1.5] * 30
    users = [n % 4 for n in range(30)]
    labels = chart_labels(get_texts("ru"))
    figure = daily_figure(days, revenue, users, labels, cost)
    money_axis, users_axis = figure.axes
    by_label = {str(line.get_label()): line for line in money_axis.get_lines()}
    assert ydata(by_label[labels.revenue]) == revenue
    assert by_label[labels.revenue].get_color() == REVENUE_COLOR
    assert ydata(by_label[labels.cost]) == cost
    [users_line] = users_axis.get_lines()
    assert ydata(users_line) == users and users_line.get_linestyle() == "--"
    colors = {line.get_color() for line in [*by_label.values(), users_line]}
    assert len(colors) == 3  # three distinct lines
    legend = money_axis.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "Выручка, ₽",
        "Расходы на модели, ₽",
        "Новые пользователи",
    ]
    assert money_axis.get_ylabel() == "Рубли" and users_axis.get_ylabel() == "Пользователи"
    assert daily_chart(days, revenue, users, labels, cost).startswith(b"\x89PNG")
