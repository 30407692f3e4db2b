"""Daily quotas: what counts, when it resets, and that races cannot beat them. The tests
taking `shared` run on both counters: the statistics' own (one process) and Redis's;
those with two processes share one Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import tomllib
from collections.abc import Awaitable
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest

from runtime.redis import client_for
from services.catalog import Catalog
from services.chat.refusals import ChatRefusalError
from services.limits import quota as quota_module
from services.limits.access import AccessService
from services.limits.quota import QuotaExceededError, QuotaService
from services.models import ChatTurn, UserRecord
from services.operator.stats import FREE, StatsService
from services.shared.link import FAST_FAIL, SharedStateUnavailableError
from services.shared.quota import RedisCounters
from services.shared.state import SharedState
from services.storage.memory import MemoryStorage
from tests.conftest import REDIS_PORT, delete_prefix, unique_prefix
from tests.stubs.tcp_proxy import TcpProxy
from tests.unit.conftest import RETENTION, ROOT, another_process, open_money_on
from tests.unit.test_chat import Recorded, collect, make

MSK = ZoneInfo("Europe/Moscow")


def free_chars_catalog(chars: int = 60_000) -> Catalog:
    """The shipped catalog with a bound on the free characters of a day (off there)."""
    raw = tomllib.loads((ROOT / "catalog.toml").read_text(encoding="utf-8"))
    for model in raw["models"]:
        if model.get("free"):
            model["free_daily_chars"] = chars
    return Catalog.model_validate(raw)


async def quota_for(
    tmp_path: Path,
    catalog: Catalog,
    exempt: frozenset[int] = frozenset(),
    shared: SharedState | None = None,
):
    money = await open_money_on(MemoryStorage(RETENTION), catalog)  # tmp_path: no file
    stats = StatsService(money.storage, MSK)
    await stats.load()
    access = AccessService(catalog, money.subscriptions)
    counters = RedisCounters(shared) if shared is not None else None
    quota = QuotaService(catalog, access, stats, MSK, exempt=exempt, shared=counters)
    return quota, money, stats


async def test_free_requests_run_out_and_admins_are_exempt(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None
) -> None:
    quota, _, _ = await quota_for(tmp_path, catalog, exempt=frozenset({99}), shared=shared)
    nano = catalog.models_by_key["gpt-5-nano"]
    assert nano.free_daily_requests == 30
    for _ in range(30):
        await quota.take(1, nano, 10)
    with pytest.raises(QuotaExceededError) as error:
        await quota.take(1, nano, 10)
    assert (error.value.what, error.value.limit) == ("requests", 30)
    for _ in range(40):
        await quota.take(99, nano, 10)  # an admin
    (left,) = quota.left_today(1, [nano])
    assert (left.requests, left.chars) == (0, None)  # no character count users never see


async def test_characters_count_the_memory_so_splitting_does_not_escape(tmp_path: Path) -> None:
    chat, llm, _, storage = await make(tmp_path, free_chars_catalog())
    user = UserRecord(id=5, model_key="gpt-5-nano")
    first = await chat.conversations.current(user.id, user.model_key)
    # A long conversation: each new short question resends the whole memory.
    await storage.save_history(
        user.id, first.id, [ChatTurn("user", "x" * 900), ChatTurn("assistant", "y" * 900)] * 16
    )
    with pytest.raises(ChatRefusalError) as refusal:
        for part in range(40):
            await collect(chat, user, f"часть {part}")
    assert refusal.value.reason == "quota_free_chars" and refusal.value.limit == 60000
    assert refusal.value.resets_at is not None
    asked = len(llm.prompts)
    # A free request carries at most free_memory_chars (12,000) of the memory: ~13k
    # characters each, the 60k of the day are gone after five.
    assert asked <= 5


async def test_a_free_requests_memory_is_capped_and_a_plan_lifts_the_cap(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, subs, storage = await make(tmp_path, catalog)
    user = UserRecord(id=9, model_key="gpt-5-nano")
    cap = catalog.models_by_key["gpt-5-nano"].free_memory_chars
    assert cap is not None
    first = await chat.conversations.current(user.id, user.model_key)
    long_memory = [ChatTurn("user", "x" * 900), ChatTurn("assistant", "y" * 900)] * 16
    await storage.save_history(user.id, first.id, long_memory)  # 28,800 characters
    await collect(chat, user, "и ещё вопрос")
    memory = [turn for turn in llm.prompts[-1][:-1] if turn.role != "system"]
    assert sum(len(turn.content) for turn in memory) <= cap
    assert memory and memory[0].role == "user" and memory[-1].content == "y" * 900
    # Thirty such requests in a day all pass: nothing but the requests runs out.
    for number in range(29):
        await collect(chat, user, f"вопрос {number}")
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, user, "тридцать первый")
    assert refusal.value.reason == "quota_free_requests"

    await subs.grant(user.id, "premium1", 30, "admin:1:x")  # a plan: the whole memory
    await storage.save_history(user.id, first.id, long_memory)
    await collect(chat, user, "с тарифом")
    assert [turn for turn in llm.prompts[-1] if turn.role != "system"][:-1] == long_memory


async def test_the_last_request_from_two_devices_at_once_passes_once(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None
) -> None:
    chat, *_ = await make(tmp_path, catalog, shared)
    user = UserRecord(id=6, model_key="gpt-5-nano")
    for number in range(29):
        await collect(chat, user, f"вопрос {number}")
        await chat.new_conversation(user)  # short memory: only requests count here
    results = await asyncio.gather(
        collect(chat, user, "с телефона"), collect(chat, user, "с ноутбука"), return_exceptions=True
    )
    assert sum(isinstance(result, str) for result in results) == 1
    (refused,) = [r for r in results if isinstance(r, ChatRefusalError)]
    assert refused.reason == "quota_free_requests"


async def test_a_failed_model_call_does_not_count(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None
) -> None:
    chat, llm, *_ = await make(tmp_path, catalog, shared)
    user = UserRecord(id=7, model_key="gpt-5-nano")
    llm.fail = "unavailable"
    for _ in range(35):
        result = await chat.answer(user, "hi", Recorded())
        assert result.error == "unavailable"
    assert chat._quota.left_today(user.id, [catalog.models_by_key["gpt-5-nano"]])[0].requests == 30


async def test_a_plan_lifts_the_free_quota_and_its_fair_use_cap_applies(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None
) -> None:
    raw = tomllib.loads((ROOT / "catalog.toml").read_text(encoding="utf-8"))
    for plan in raw["plans"]:
        if plan["id"] == "premium1":
            plan["daily_requests_per_model"] = 3
    capped = Catalog.model_validate(raw)
    quota, money, _ = await quota_for(tmp_path, capped, shared=shared)
    nano = capped.models_by_key["gpt-5-nano"]
    await money.subscriptions.grant(8, "premium1", 30, "admin:1:x")
    for _ in range(100):
        await quota.take(8, nano, 1000)  # a plan lifts the free tier's limits
    assert quota.left_today(8, [nano]) == []
    mini = capped.models_by_key["gpt-4o-mini"]
    for _ in range(3):
        await quota.take(8, mini, 10)
    with pytest.raises(QuotaExceededError) as error:
        await quota.take(8, mini, 10)
    assert error.value.limits.kind == "fair_use"
    assert quota.left_today(8, [mini])[0].requests == 0


async def test_the_day_resets_at_midnight_in_the_bot_zone(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None
) -> None:
    quota, money, stats = await quota_for(tmp_path, catalog, shared=shared)
    resets = dt.datetime.fromtimestamp(quota.resets_at(), MSK)
    assert (resets.hour, resets.minute) == (0, 0)
    assert resets.date() == dt.datetime.now(MSK).date() + dt.timedelta(days=1)
    nano = catalog.models_by_key["gpt-5-nano"]
    await quota.take(1, nano, 100)
    await stats.flush()
    again = StatsService(money.storage, MSK)  # a restart keeps today's counts
    await again.load()
    assert again.used_today(1, "gpt-5-nano") == (1, 100)


async def test_the_last_request_passes_once_across_two_processes(
    tmp_path: Path, catalog: Catalog, shared_redis: SharedState
) -> None:
    """Two processes (each its own statistics, one Redis) race for a user's last free
    requests: 30 a day pass in all, whichever process takes them, and each process's
    statistics know the day's count as Redis has it (their floor)."""
    other = await another_process(shared_redis)
    try:
        one, _, stats_one = await quota_for(tmp_path / "a", catalog, shared=shared_redis)
        two, _, stats_two = await quota_for(tmp_path / "b", catalog, shared=other)
        nano = catalog.models_by_key["gpt-5-nano"]
        for _ in range(14):
            await one.take(1, nano, 10)
        for _ in range(14):
            await two.take(1, nano, 10)
        results = await asyncio.gather(
            *((one if n % 2 else two).take(1, nano, 10) for n in range(6)), return_exceptions=True
        )
        assert sum(result == FREE for result in results) == 2  # 28 + 2 = the day's 30
        refused = [r for r in results if isinstance(r, QuotaExceededError)]
        assert len(refused) == 4 and {r.what for r in refused} == {"requests"}
        await two.refresh(1)
        assert two.used_today(1, "gpt-5-nano") == (30, 300)
        # Each process's statistics count its own part (their documents add up).
        assert (
            stats_one.used_today(1, "gpt-5-nano")[0] + stats_two.used_today(1, "gpt-5-nano")[0]
            == 30
        )
        await two.give_back(1, nano, 10)  # a failed call on the other process frees one
        assert await one.take(1, nano, 10) == FREE
        with pytest.raises(QuotaExceededError):
            await two.take(1, nano, 10)
    finally:
        assert other.redis is not None
        await other.redis.aclose()


async def test_counters_lost_by_redis_start_again_from_what_the_statistics_saw(
    tmp_path: Path, catalog: Catalog, shared_redis: SharedState
) -> None:
    """A Redis restarted without its data does not hand out a second quota: a missing
    counter starts from the statistics' (saved in the day's document)."""
    quota, _, stats = await quota_for(tmp_path, catalog, shared=shared_redis)
    nano = catalog.models_by_key["gpt-5-nano"]
    for _ in range(30):
        await quota.take(1, nano, 10)
    assert shared_redis.redis is not None
    await delete_prefix(shared_redis.redis, shared_redis.prefix)  # Redis lost everything
    with pytest.raises(QuotaExceededError):
        await quota.take(1, nano, 10)
    assert stats.used_today(1, "gpt-5-nano") == (30, 300)


async def test_without_redis_nothing_is_counted_and_the_request_is_refused(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quota_module, "RETRY_EVERY", 0.2)
    proxy = TcpProxy("127.0.0.1", REDIS_PORT)
    await proxy.start()
    shared = SharedState(client_for(f"redis://127.0.0.1:{proxy.port}/0"), unique_prefix())
    try:
        quota, _, stats = await quota_for(tmp_path, catalog, shared=shared)
        nano = catalog.models_by_key["gpt-5-nano"]
        await quota.take(1, nano, 10)
        proxy.cut()
        with pytest.raises(SharedStateUnavailableError):
            await quota.take(1, nano, 10)
        assert stats.used_today(1, "gpt-5-nano") == (1, 10)  # the refused one not counted
        await quota.give_back(1, nano, 10)  # given back to Redis once it answers
        proxy.restore()
        await asyncio.sleep(FAST_FAIL + 2 * quota_module.RETRY_EVERY)
        await quota.refresh(1)
        assert quota.used_today(1, "gpt-5-nano") == (0, 0)
        assert shared.redis is not None
        counters = shared.redis.hgetall(f"{shared.prefix}:quota:{stats.today()}:1")
        assert await cast(Awaitable[dict[bytes, bytes]], counters) == {
            b"r:gpt-5-nano": b"0",
            b"c:gpt-5-nano": b"0",
        }
    finally:
        assert shared.redis is not None
        await delete_prefix(shared.redis, shared.prefix)
        await shared.redis.aclose()
        await proxy.stop()
