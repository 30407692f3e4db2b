"""Promo rules and races."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.catalog import Catalog
from services.money.promo import GUESS_WINDOW, PromoError, PromoService
from services.money.subscriptions import DAY, SubscriptionService, UnknownPlanError
from services.shared.state import SharedState
from services.shared.throttle import RedisWindow
from services.storage.json_store import read_live_records
from tests.unit.conftest import another_process, open_money

MSK = ZoneInfo("Europe/Moscow")
T0 = 1_800_000_000.0  # 2027-01-15 11:00 MSK


async def make(tmp_path: Path, catalog: Catalog) -> tuple[PromoService, SubscriptionService]:
    money = await open_money(tmp_path, catalog)
    return money.promo, money.subscriptions


async def test_activation_opens_the_plan_once_per_user(tmp_path: Path, catalog: Catalog) -> None:
    promo, subs = await make(tmp_path, catalog)
    await promo.create("Spring", "ai_group", 7, created_by=1)
    result = await promo.activate(10, "  spring ", now=T0)  # case-insensitive, trimmed
    assert result.end == T0 + 7 * DAY
    assert [a.plan.id for a in subs.active_plans(10, now=T0 + 1)] == ["ai_group"]
    with pytest.raises(PromoError) as error:
        await promo.activate(10, "SPRING", now=T0 + 5)
    assert error.value.reason == "already_used"
    assert subs.subscriptions()[0].end == T0 + 7 * DAY


async def test_refusals_give_their_reason(tmp_path: Path, catalog: Catalog) -> None:
    promo, _ = await make(tmp_path, catalog)
    await promo.create("ONE", "premium1", 3, created_by=1, max_uses=1)
    await promo.create("OLD", "premium1", 3, created_by=1, valid_until=dt.date(2027, 1, 14))
    await promo.create("TODAY", "premium1", 3, created_by=1, valid_until=dt.date(2027, 1, 15))
    await promo.activate(1, "ONE", now=T0)
    reasons = []
    for user, code in ((2, "ONE"), (2, "OLD"), (2, "NOPE")):
        with pytest.raises(PromoError) as error:
            await promo.activate(user, code, now=T0)
        reasons.append(error.value.reason)
    assert reasons == ["used_up", "expired", "unknown"]
    await promo.activate(2, "TODAY", now=T0)  # the last valid date is inclusive


async def test_wrong_guesses_are_throttled(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None
) -> None:
    promo, _ = await make(tmp_path, catalog)
    if shared is not None:
        promo.guesses = RedisWindow(shared, "promo-guesses", GUESS_WINDOW)
    await promo.create("REAL", "premium1", 3, created_by=1)
    for i in range(5):
        with pytest.raises(PromoError, match="unknown"):
            await promo.activate(1, f"GUESS{i}", now=T0 + i)
    with pytest.raises(PromoError, match="throttled"):
        await promo.activate(1, "REAL", now=T0 + 10)
    await promo.activate(2, "REAL", now=T0 + 10)  # other users are not affected
    await promo.activate(1, "REAL", now=T0 + 700)  # the window has passed


async def test_wrong_guesses_on_two_processes_are_throttled_as_one(
    tmp_path: Path, catalog: Catalog, shared_redis: SharedState
) -> None:
    other = await another_process(shared_redis)
    try:
        one, _ = await make(tmp_path / "a", catalog)
        two, _ = await make(tmp_path / "b", catalog)
        one.guesses = RedisWindow(shared_redis, "promo-guesses", GUESS_WINDOW)
        two.guesses = RedisWindow(other, "promo-guesses", GUESS_WINDOW)
        await two.create("REAL", "premium1", 3, created_by=1)
        for i in range(5):  # a guesser spreads their tries over both processes
            with pytest.raises(PromoError, match="unknown"):
                await (one, two)[i % 2].activate(1, f"GUESS{i}", now=T0 + i)
        with pytest.raises(PromoError, match="throttled"):
            await two.activate(1, "REAL", now=T0 + 10)
    finally:
        assert other.redis is not None
        await other.redis.aclose()


async def test_admin_validation(tmp_path: Path, catalog: Catalog) -> None:
    promo, _ = await make(tmp_path, catalog)
    with pytest.raises(UnknownPlanError):
        await promo.create("CODE1", "gold", 3, created_by=1)
    with pytest.raises(PromoError, match="bad_code"):
        await promo.create("a b", "premium1", 3, created_by=1)
    await promo.create("CODE1", "premium1", 3, created_by=1)
    with pytest.raises(PromoError, match="exists"):
        await promo.create("code1", "premium1", 3, created_by=1)
    assert await promo.delete("code1") and not await promo.delete("code1")
    with pytest.raises(PromoError, match="unknown"):
        await promo.activate(1, "CODE1", now=T0)


async def test_100_concurrent_activations_of_a_10_use_code(
    tmp_path: Path, catalog: Catalog
) -> None:
    promo, subs = await make(tmp_path, catalog)
    await promo.create("RUSH", "power_group", 30, created_by=1, max_uses=10)

    async def attempt(user_id: int) -> bool:
        try:
            await promo.activate(user_id, "rush", now=T0)
        except PromoError:
            return False
        return True

    results = await asyncio.gather(*(attempt(u) for u in range(100, 200)))
    assert sum(results) == 10
    assert len(subs.subscriptions()) == 10
    saved = read_live_records(tmp_path)["promo_activations"]
    assert len(saved) == 10 and {row["code"] for row in saved.values()} == {"RUSH"}
    # A double tap by one user: one period.
    await promo.create("TAP", "premium1", 30, created_by=1)
    results = await asyncio.gather(*(attempt_code(promo, 5, "TAP") for _ in range(5)))
    assert sum(results) == 1
    premium = [s for s in subs.subscriptions() if s.user_id == 5]
    assert len(premium) == 1 and len(premium[0].periods) == 1


async def attempt_code(promo: PromoService, user_id: int, code: str) -> bool:
    try:
        await promo.activate(user_id, code, now=T0)
    except PromoError:
        return False
    return True


async def test_format_1_crash_between_writes_is_recovered(tmp_path: Path, catalog: Catalog) -> None:
    """The old format saved the period first: a restart records the missing activation."""
    code = {
        "code": "HALF",
        "plan_id": "premium1",
        "days": 3,
        "max_uses": 1,
        "valid_until": None,
        "created_at": T0 - 100,
        "created_by": 1,
        "activations": [],
    }
    period = {"start": T0, "end": T0 + 3 * DAY, "source": "promo:HALF"}
    (tmp_path / "promo_codes.json").write_text(json.dumps([code]))
    (tmp_path / "subscriptions.json").write_text(
        json.dumps(
            [{"user_id": 7, "plan_id": "premium1", "periods": [period], "reminders_sent": []}]
        )
    )
    restarted, _ = await make(tmp_path, catalog)
    with pytest.raises(PromoError, match="already_used"):
        await restarted.activate(7, "HALF", now=T0 + 1)
    with pytest.raises(PromoError, match="used_up"):
        await restarted.activate(8, "HALF", now=T0 + 1)


KILL_SCRIPT = """
import asyncio, sys
from pathlib import Path
from zoneinfo import ZoneInfo
sys.path.insert(0, {root!r})
from services.catalog import load_catalog
from services.shared.state import SharedState
from services.shared.throttle import RedisWindow
from tests.unit.conftest import another_process
from services.money.promo import PromoService
from services.storage.base import Retention
from services.storage.json_store import JsonStorage
from services.money.subscriptions import SubscriptionService

async def main():
    storage = JsonStorage(Path({data!r}), Retention(open_payment_seconds=86400))
    await storage.open()
    subs = SubscriptionService(storage, load_catalog(Path({root!r}) / "catalog.toml"))
    promo = PromoService(storage, subs, ZoneInfo("Europe/Moscow"))
    await promo.create("KILL", "premium1", 30, created_by=1)
    print("ready", flush=True)

    async def one(user_id):
        await promo.activate(user_id, "KILL")
        print(user_id, flush=True)

    for batch in range(0, 100000, 20):
        await asyncio.gather(*(one(user_id) for user_id in range(batch + 1, batch + 21)))

asyncio.run(main())
"""


async def test_kill_9_keeps_every_confirmed_activation(tmp_path: Path, catalog: Catalog) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    root = str(Path(__file__).resolve().parents[2])
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT.format(root=root, data=str(data))],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    time.sleep(0.8)
    os.kill(process.pid, signal.SIGKILL)
    confirmed = {int(line) for line in process.stdout.read().split()}
    process.wait()
    assert confirmed, "the script confirmed nothing before the kill"
    for path in data.rglob("*.json"):
        json.loads(path.read_bytes())
    promo, subs = await make(data, catalog)
    assert promo.get("KILL") is not None
    activated = {row["user_id"] for row in read_live_records(data)["promo_activations"].values()}
    with_period = {s.user_id for s in subs.subscriptions()}
    assert confirmed <= activated
    assert activated == with_period  # no activation without its period, none twice


async def test_disabled_code_is_refused_like_an_unknown_one(
    tmp_path: Path, catalog: Catalog
) -> None:
    promo, _ = await make(tmp_path, catalog)
    await promo.create("PAUSE", "premium1", 3, created_by=1)
    await promo.set_disabled("pause", True)
    with pytest.raises(PromoError, match="unknown"):
        await promo.activate(1, "PAUSE", now=T0)
    await promo.set_disabled("PAUSE", False)
    await promo.activate(1, "PAUSE", now=T0)
