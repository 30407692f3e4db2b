"""Provider costs and margins: each answer costed, a scripted month checked by hand."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from services.catalog import Catalog
from services.models import Usage, UserRecord
from services.reports import stats_report
from services.stats import StatsService
from services.users import UsersService
from tests.unit.conftest import open_money
from tests.unit.test_chat import collect, make

MSK = ZoneInfo("Europe/Moscow")


async def test_an_answer_is_costed_from_the_providers_usage_or_its_text(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, *_ = await make(tmp_path, catalog)
    user = UserRecord(id=3, model_key="gpt-5-nano")  # 0.05 / 0.40 USD per 1M tokens
    await collect(chat, user, "вопрос")
    stats = chat._stats
    (cost,) = stats._day().costs.values()
    # The scripted model reports Usage(10, 5): 10 * 0.05 + 5 * 0.40 = 2.5 USD per 1M.
    assert abs(cost - 2.5 / 1_000_000 * 95.0) < 1e-12
    nano = catalog.models_by_key["gpt-5-nano"]
    unpriced = nano.model_copy(update={"price_input": None, "price_output": None})
    assert chat._cost(unpriced, Usage(1000, 1000), [], "x") is None  # unknown, not zero
    counted = chat._cost(nano, None, [], "y" * 250)  # no usage: 250 chars ≈ 100 tokens
    assert counted is not None and abs(counted - 100 * 0.40 / 1_000_000 * 95.0) < 1e-12


async def test_a_scripted_month_gives_revenue_cost_and_margin_to_the_kopeck(
    tmp_path: Path, catalog: Catalog
) -> None:
    rng = random.Random(2026)
    money = await open_money(tmp_path, catalog)
    stats = StatsService(tmp_path, MSK)
    await stats.load()
    today = stats.today()
    (tmp_path / "stats").mkdir(exist_ok=True)
    expected_revenue = 0.0
    expected_cost = {1: 0.0, 7: 0.0, 30: 0.0}
    users = range(1000, 1300)  # a few hundred users; a handful of heavy ones
    heavy = set(rng.sample(list(users), 5))
    for offset in range(30):
        day = today - dt.timedelta(days=offset)
        costs: dict[str, float] = {}
        for user in users:
            requests = rng.randint(20, 60) if user in heavy else rng.randint(0, 3)
            for _ in range(requests):
                key = f"{user}:{rng.choice(['gpt-5-nano', 'gpt-4o-mini', 'grok-3'])}"
                costs[key] = costs.get(key, 0.0) + round(rng.uniform(0.01, 0.6), 4)
        if offset == 0:
            for key, value in costs.items():
                owner, _, model = key.partition(":")
                stats.spend(int(owner), model, value)
        else:
            raw = {"costs": costs}
            (tmp_path / "stats" / f"{day.isoformat()}.json").write_bytes(orjson.dumps(raw))
        for window in expected_cost:
            if offset < window:
                expected_cost[window] += sum(costs.values())
    plans = {"premium1": 675, "ai_group": 420, "power_group": 870, "gpt_pro": 1199}
    for user in rng.sample(list(users), 60):  # mixed plans, paid by SBP (full price)
        plan = rng.choice(list(plans))
        invoice = await money.payments.open_invoice(user, plan, "sbp")
        await money.payments.credit(invoice.id, decided_by=1)
        expected_revenue += plans[plan]
    users_service = UsersService(money.storage, "gpt-5-nano", stats)
    report = await stats_report(users_service, money.subscriptions, money.payments, stats, MSK)
    assert round(report.revenue_30d.rub, 2) == round(expected_revenue, 2)
    assert round(report.cost_since(30), 2) == round(expected_cost[30], 2)
    assert round(report.cost_since(7), 2) == round(expected_cost[7], 2)
    assert round(report.cost_since(1), 2) == round(expected_cost[1], 2)
    margin = report.revenue_30d.rub - report.cost_since(30)
    assert round(margin, 2) == round(expected_revenue - expected_cost[30], 2)
    top = await stats.top_spenders(10)
    assert {user for user, _ in top[:5]} == heavy  # the heavy users cost the most
    assert sum(report.active_by_plan.values()) == 60  # sixty different users, a plan each
