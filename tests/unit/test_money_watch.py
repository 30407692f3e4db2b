"""Money-leak alerts: each fires on its own condition, once a day, and not otherwise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from services.catalog import Catalog
from services.operator.alerts import AlertService
from services.operator.money_watch import MoneyWatch
from services.operator.stats import StatsService
from tests.unit.conftest import Money, open_money

MSK = ZoneInfo("Europe/Moscow")


async def make(
    tmp_path: Path, catalog: Catalog, limit: float | None
) -> tuple[MoneyWatch, StatsService, list[str], Money]:
    money = await open_money(tmp_path, catalog)
    stats = StatsService(money.storage, MSK)
    await stats.load()
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    alerts = AlertService(send, cooldown=0)
    watch = MoneyWatch(stats, money.payments, alerts, MSK, daily_cost_limit=limit, star_rate=1.2)
    return watch, stats, sent, money


async def test_a_day_over_the_cost_limit_is_alerted_once(tmp_path: Path, catalog: Catalog) -> None:
    watch, stats, sent, _ = await make(tmp_path, catalog, limit=50.0)
    stats.spend(1, "gpt-5-nano", 30.0)
    assert await watch.check() == []
    stats.spend(1, "gpt-5-nano", 30.0)
    (alert,) = await watch.check()
    assert "60.00" in alert and "50.00" in alert
    assert await watch.check() == []  # not again the same day
    assert len(sent) == 1


async def test_no_limit_means_no_day_alert(tmp_path: Path, catalog: Catalog) -> None:
    watch, stats, _, _ = await make(tmp_path, catalog, limit=None)
    stats.spend(1, "gpt-5-nano", 90.0)  # below the share floor: no share alert either
    assert await watch.check() == []


async def test_a_models_jump_in_share_is_alerted(tmp_path: Path, catalog: Catalog) -> None:
    watch, stats, _, _ = await make(tmp_path, catalog, limit=None)
    (tmp_path / "stats").mkdir(exist_ok=True)
    for offset in range(1, 8):  # a week where grok-3 took a tenth of the cost
        day = stats.today() - dt.timedelta(days=offset)
        raw = {"costs": {"1:gpt-5-nano": 90.0, "1:grok-3": 10.0}}
        (tmp_path / "stats" / f"{day.isoformat()}.json").write_bytes(orjson.dumps(raw))
    stats.spend(1, "gpt-5-nano", 60.0)
    stats.spend(2, "grok-3", 60.0)  # today: half
    alerts = await watch.check()
    assert len(alerts) == 1 and "grok-3" in alerts[0] and "50%" in alerts[0]


async def test_the_usual_mix_is_not_alerted(tmp_path: Path, catalog: Catalog) -> None:
    watch, stats, _, _ = await make(tmp_path, catalog, limit=None)
    (tmp_path / "stats").mkdir(exist_ok=True)
    for offset in range(1, 8):
        day = stats.today() - dt.timedelta(days=offset)
        raw = {"costs": {"1:gpt-5-nano": 50.0, "1:grok-3": 50.0}}
        (tmp_path / "stats" / f"{day.isoformat()}.json").write_bytes(orjson.dumps(raw))
    stats.spend(1, "gpt-5-nano", 60.0)
    stats.spend(2, "grok-3", 60.0)
    assert await watch.check() == []


async def test_a_fresh_deployment_has_no_usual_share_to_jump_from(
    tmp_path: Path, catalog: Catalog
) -> None:
    watch, stats, _, _ = await make(tmp_path, catalog, limit=None)
    stats.spend(1, "grok-3", 300.0)
    assert await watch.check() == []


async def test_a_paying_user_who_costs_more_than_they_paid_is_alerted(
    tmp_path: Path, catalog: Catalog
) -> None:
    watch, stats, _, money = await make(tmp_path, catalog, limit=None)
    invoice = await money.payments.open_invoice(7, "ai_group", "sbp")
    await money.payments.credit(invoice.id, decided_by=1)
    stats.spend(7, "deepseek", 419.0)
    stats.spend(8, "gpt-5-nano", 99.0)  # a free user: bounded by quotas, not alerted
    assert await watch.check() == []
    stats.spend(7, "deepseek", 2.0)
    (alert,) = await watch.check()
    assert "User 7" in alert and "421.00" in alert and "420.00" in alert
