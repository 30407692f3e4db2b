"""Provider costs and margins: each answer costed, a scripted month checked by hand."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from services.catalog import Catalog, Unit
from services.chat.costs import answer_units, cost_rub, counted_tokens
from services.chat.llm import LLMGateway, ProviderConfig
from services.chat.pictures import Prompt
from services.models import Usage, UserRecord
from services.money.payments import MoneyArrival
from services.operator.reports import stats_report
from services.operator.stats import FREE, StatsService
from services.users import UsersService
from tests.stubs.openai_server import FakeOpenAI, text_of
from tests.unit.conftest import open_money
from tests.unit.test_chat import Recorded, collect, make

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
    assert cost_rub(unpriced.prices, answer_units(Usage(1000, 1000)), 95.0) is None  # unknown
    tokens = counted_tokens(None, Prompt([], {}, 0), "y" * 250)  # ≈ 100 tokens
    counted = cost_rub(nano.prices, answer_units(tokens), 95.0)
    assert counted is not None and abs(counted - 100 * 0.40 / 1_000_000 * 95.0) < 1e-12
    assert nano.prices == {Unit.INPUT_TOKENS: 0.05, Unit.OUTPUT_TOKENS: 0.40}


async def test_a_scripted_month_gives_revenue_cost_and_margin_to_the_kopeck(
    tmp_path: Path, catalog: Catalog
) -> None:
    rng = random.Random(2026)
    money = await open_money(tmp_path, catalog)
    stats = StatsService(money.storage, MSK)
    await stats.load()
    today = stats.today()
    (tmp_path / "stats").mkdir(exist_ok=True)
    users = list(range(1000, 1300))  # a few hundred users; a handful of heavy ones
    heavy = set(rng.sample(users, 5))
    paying = rng.sample(users, 70)  # 60 pay by SBP (roubles), 10 in Stars
    plan_of = {user: rng.choice(list(catalog.plans_by_id)) for user in paying}
    free_models = [model.key for model in catalog.models if model.free]
    expected_cost = {1: 0.0, 7: 0.0, 30: 0.0}
    expected_plan_cost: dict[str, float] = {}
    for offset in range(30):
        day = today - dt.timedelta(days=offset)
        costs: dict[str, float] = {}
        plan_costs: dict[str, float] = {}
        for user in users:
            plan = plan_of.get(user, FREE)
            models = catalog.plans_by_id[plan].models if plan != FREE else free_models
            for _ in range(rng.randint(20, 60) if user in heavy else rng.randint(0, 3)):
                cost = round(rng.uniform(0.01, 0.6), 4)
                key = f"{user}:{rng.choice(models)}"
                costs[key] = costs.get(key, 0.0) + cost
                plan_costs[plan] = plan_costs.get(plan, 0.0) + cost
                if offset == 0:
                    stats.spend(user, key.partition(":")[2], cost, plan=plan)
        if offset:
            raw = {"costs": costs, "plan_costs": plan_costs}
            (tmp_path / "stats" / f"{day.isoformat()}.json").write_bytes(orjson.dumps(raw))
        for window in expected_cost:
            if offset < window:
                expected_cost[window] += sum(costs.values())
        for plan, cost in plan_costs.items():
            expected_plan_cost[plan] = expected_plan_cost.get(plan, 0.0) + cost
    expected_revenue: dict[str, float] = {}  # RUB by plan, Stars at 1.2 RUB
    for number, user in enumerate(paying):
        bought = catalog.plans_by_id[plan_of[user]]
        method = "sbp" if number < 60 else "stars"
        invoice = await money.payments.open_invoice(user, bought.id, method)
        if method == "sbp":
            await money.payments.credit(invoice.id, decided_by=1)
            received = float(bought.price_rub)
        else:
            charge = MoneyArrival(
                "stars", f"ch-{user}", bought.stars, "XTR", invoice.id, user_id=user
            )
            assert (await money.payments.accept(charge)).credit is not None
            received = bought.stars * 1.2
        expected_revenue[bought.id] = expected_revenue.get(bought.id, 0.0) + received
    users_service = UsersService(money.storage, "gpt-5-nano", stats)
    report = await stats_report(users_service, money.subscriptions, money.payments, stats, MSK, 1.2)
    revenue = sum(expected_revenue.values())
    assert round(report.revenue_30d.in_rub(1.2), 2) == round(revenue, 2)
    # The chart's revenue line counts Stars as the totals do (it drew RUB only).
    assert round(sum(report.revenue_by_day), 2) == round(revenue, 2)
    assert round(report.cost_since(30), 2) == round(expected_cost[30], 2)
    assert round(report.cost_since(7), 2) == round(expected_cost[7], 2)
    assert round(report.cost_since(1), 2) == round(expected_cost[1], 2)
    assert round(report.margin_since(30), 2) == round(revenue - expected_cost[30], 2)
    by_plan = {row.plan_id: row for row in report.plan_margins()}
    assert set(by_plan) == {*plan_of.values(), FREE}
    for plan_id, row in by_plan.items():
        assert round(row.revenue, 2) == round(expected_revenue.get(plan_id, 0.0), 2), plan_id
        assert round(row.cost, 2) == round(expected_plan_cost[plan_id], 2), plan_id
        assert round(row.margin, 2) == round(row.revenue - row.cost, 2)
    assert report.plan_margins()[-1].plan_id == FREE  # the free tier last, revenue 0
    top = await stats.top_spenders(10)
    assert {user for user, _ in top[:5]} == heavy  # the heavy users cost the most
    assert sum(report.active_by_plan.values()) == 70  # seventy different users, a plan each


async def test_an_answer_cut_after_text_was_shown_is_costed_and_billed(
    tmp_path: Path, catalog: Catalog
) -> None:
    llm = FakeOpenAI()
    await llm.start()
    chat, *_ = await make(tmp_path, catalog)
    gateway = LLMGateway(catalog, {"openai": ProviderConfig(llm.base_url, "sk-test")}, 5)
    chat._llm = gateway
    llm.cut_stream_next = 1  # half the answer, then the connection drops (no usage)
    user = UserRecord(id=4, model_key="gpt-5-nano")  # 0.05 / 0.40 USD per 1M tokens
    shown = Recorded()
    try:
        result = await chat.answer(user, "вопрос " * 20, shown)
    finally:
        await gateway.close()
        await llm.stop()
    assert result.error == "cut" and shown.texts and shown.text == result.text
    day = chat._stats._day()
    # Counted from the text, as a stopped answer: what was sent, and what was shown.
    sent = sum(len(text_of(m["content"])) for m in llm.requests[-1]["messages"])
    tokens_in, tokens_out = round(sent / 2.5), round(len(result.text) / 2.5)
    expected = (tokens_in * 0.05 + tokens_out * 0.40) / 1_000_000 * 95.0
    assert abs(day.costs.get("4:gpt-5-nano", 0.0) - expected) < 1e-12
    assert abs(day.plan_costs.get(FREE, 0.0) - expected) < 1e-12
    assert chat._stats.used_today(4, "gpt-5-nano")[0] == 1  # the request still counts


async def test_an_answer_that_failed_before_any_text_costs_nothing(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, *_ = await make(tmp_path, catalog)
    llm.fail = "unavailable"
    user = UserRecord(id=5, model_key="gpt-5-nano")
    result = await chat.answer(user, "вопрос", Recorded())
    assert result.error == "unavailable"
    day = chat._stats._day()
    assert day.costs == {} and day.unpriced == 0
    assert chat._stats.used_today(5, "gpt-5-nano")[0] == 0  # given back
