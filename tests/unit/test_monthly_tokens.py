"""Plans' monthly token allowances and which plan an answer is billed to."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.catalog import Catalog
from services.chat.refusals import ChatRefusalError
from services.limits.quota import QuotaExceededError
from services.models import UserRecord
from services.operator.stats import FREE, StatsService
from services.shared.state import SharedState
from tests.unit.conftest import ROOT, another_process
from tests.unit.test_chat import collect, make
from tests.unit.test_quota import quota_for

MSK = ZoneInfo("Europe/Moscow")


def with_allowance(**tokens: int) -> Catalog:
    raw = tomllib.loads((ROOT / "catalog.toml").read_text(encoding="utf-8"))
    for plan in raw["plans"]:
        if plan["id"] in tokens:
            plan["monthly_tokens"] = tokens[plan["id"]]
    return Catalog.model_validate(raw)


async def test_the_allowance_runs_out_and_comes_back_next_month(
    tmp_path: Path, shared: SharedState | None
) -> None:
    catalog = with_allowance(premium1=1000)
    quota, money, stats = await quota_for(tmp_path, catalog, shared=shared)
    mini = catalog.models_by_key["gpt-4o-mini"]
    await money.subscriptions.grant(8, "premium1", 30, "admin:1:x")
    assert await quota.take(8, mini, 10) == "premium1"
    await quota.count_tokens(8, "premium1", 999)
    (left,) = quota.left_this_month(8)
    assert left.tokens == 1
    await quota.take(8, mini, 10)  # one token left: the request passes
    await quota.count_tokens(8, "premium1", 400)
    with pytest.raises(QuotaExceededError) as error:
        await quota.take(8, mini, 10)
    assert (error.value.what, error.value.limits.kind, error.value.limit) == (
        "tokens",
        "plan",
        1000,
    )
    resets = dt.datetime.fromtimestamp(error.value.resets_at, MSK)
    assert (resets.day, resets.hour) == (1, 0) and resets.date() > dt.datetime.now(MSK).date()
    assert quota.left_this_month(8)[0].tokens == 0
    # A restart keeps the month's count; a new month starts from zero.
    await stats.flush()
    again = StatsService(money.storage, MSK)
    await again.load()
    assert again.tokens_this_month(8, "premium1") == 1399
    again._clock = lambda: error.value.resets_at + 60  # the clock reaches next month
    assert again.tokens_this_month(8, "premium1") == 0


async def test_a_model_in_two_plans_is_billed_to_the_one_without_a_limit(
    tmp_path: Path, shared: SharedState | None
) -> None:
    catalog = with_allowance(premium1=1000)  # GPT-4o Mini is in Premium 1 and GPT Pro
    quota, money, _ = await quota_for(tmp_path, catalog, shared=shared)
    mini = catalog.models_by_key["gpt-4o-mini"]
    nano = catalog.models_by_key["gpt-5-nano"]
    await money.subscriptions.grant(8, "premium1", 30, "admin:1:x")
    await money.subscriptions.grant(8, "gpt_pro", 30, "admin:1:y")
    await quota.count_tokens(8, "premium1", 5000)
    assert await quota.take(8, mini, 10) == "gpt_pro"  # Premium 1's allowance is spent
    assert await quota.take(8, nano, 10) == FREE  # a free model stays free with plans too
    assert await quota.take(9, nano, 10) == FREE


async def test_admins_have_no_allowance(tmp_path: Path) -> None:
    catalog = with_allowance(premium1=10)
    quota, money, stats = await quota_for(tmp_path, catalog, exempt=frozenset({99}))
    mini = catalog.models_by_key["gpt-4o-mini"]
    await money.subscriptions.grant(99, "premium1", 30, "admin:1:x")
    stats.spend(99, "gpt-4o-mini", 0.1, plan="premium1", tokens=50)
    await quota.take(99, mini, 10)
    assert quota.left_this_month(99) == []


async def test_costs_are_recorded_by_plan(tmp_path: Path, catalog: Catalog) -> None:
    _, _, stats = await quota_for(tmp_path, catalog)
    stats.spend(1, "gpt-4o-mini", 2.0, plan="premium1", tokens=10)
    stats.spend(2, "gpt-5-nano", 0.5, tokens=10)
    stats.spend(3, "sonar", None, plan="power_group", tokens=10)  # unpriced: not zero, unknown
    summary = await stats.summary(30)
    assert summary.cost_by_plan == {"premium1": 2.0, FREE: 0.5}
    assert summary.unpriced == 1
    assert stats.tokens_this_month(2, FREE) == 0  # the free tier has no monthly count
    assert stats.tokens_this_month(3, "power_group") == 10


async def test_answers_count_against_the_allowance_until_the_chat_refuses(
    tmp_path: Path, shared: SharedState | None
) -> None:
    catalog = with_allowance(premium1=40)
    chat, llm, subscriptions, _ = await make(tmp_path, catalog, shared)
    await subscriptions.grant(8, "premium1", 30, "admin:1:x")
    user = UserRecord(id=8, model_key="gpt-4o-mini")
    await collect(chat, user, "раз")  # the scripted model reports 10 + 5 tokens
    await collect(chat, user, "два")
    assert chat._stats.tokens_this_month(8, "premium1") == 30
    (cost,) = chat._stats._day().plan_costs.values()
    assert cost > 0 and list(chat._stats._day().plan_costs) == ["premium1"]
    await collect(chat, user, "три")  # 10 left: passes, and overshoots by one answer
    asked = len(llm.prompts)
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, user, "четыре")
    assert refusal.value.reason == "quota_plan_tokens" and refusal.value.limit == 40
    assert len(llm.prompts) == asked  # no model call


async def test_the_last_tokens_of_a_month_are_seen_by_the_other_process(
    tmp_path: Path, shared_redis: SharedState
) -> None:
    """Tokens one process counted after its answer refuse the other's next request."""
    catalog = with_allowance(premium1=100)
    other = await another_process(shared_redis)
    try:
        one, money_one, _ = await quota_for(tmp_path / "a", catalog, shared=shared_redis)
        two, money_two, _ = await quota_for(tmp_path / "b", catalog, shared=other)
        for money in (money_one, money_two):
            await money.subscriptions.grant(8, "premium1", 30, "admin:1:x")
        mini = catalog.models_by_key["gpt-4o-mini"]
        assert await one.take(8, mini, 10) == "premium1"
        await one.count_tokens(8, "premium1", 100)
        with pytest.raises(QuotaExceededError) as error:
            await two.take(8, mini, 10)
        assert error.value.what == "tokens"
        assert two.left_this_month(8)[0].tokens == 0
    finally:
        assert other.redis is not None
        await other.redis.aclose()
