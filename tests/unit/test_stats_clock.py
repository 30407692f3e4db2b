"""Statistics and quota counters under a clock that steps: past days are never rewritten
from an empty day, a month's tokens never from an empty month."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from services.catalog import Catalog
from services.limits.access import AccessService
from services.limits.quota import QuotaService
from services.operator.stats import DayStats, StatsService
from services.storage.atomic import read_json
from services.storage.json_store import JsonStorage
from tests.unit.conftest import RETENTION, open_money

MSK = ZoneInfo("Europe/Moscow")
NANO = "gpt-5-nano"


class Clock:
    """Wall-clock time a test sets by hand (local time in MSK)."""

    def __init__(self, at: str) -> None:
        self.set(at)

    def set(self, at: str) -> None:
        self.now = dt.datetime.fromisoformat(at).replace(tzinfo=MSK)

    def __call__(self) -> float:
        return self.now.timestamp()


async def opened(data_dir: Path, clock: Clock) -> StatsService:
    storage = JsonStorage(data_dir, RETENTION)
    await storage.open()  # as at start-up: stats/ is there
    stats = StatsService(storage, MSK, clock=clock)
    await stats.load()
    return stats


def on_disk(data_dir: Path, name: str) -> dict[str, Any]:
    raw = orjson.loads((data_dir / "stats" / f"{name}.json").read_bytes())
    assert isinstance(raw, dict)
    return raw


def a_busy_day(stats: StatsService) -> None:
    """500 users, 250 ₽ of provider cost, a request each counted against the quota."""
    for user in range(1, 501):
        stats.user_seen(user, is_new=True)
        stats.count_request(user, NANO, 100)
        stats.spend(user, NANO, 0.5)


async def test_a_clock_step_back_over_midnight_continues_the_day(tmp_path: Path) -> None:
    """Defect: stepping back to yesterday started it empty, and the next flush wrote that
    empty day over the file (500 users and 250 ₽ became 1 user and 0)."""
    clock = Clock("2026-12-14T23:59:30")
    stats = await opened(tmp_path, clock)
    a_busy_day(stats)
    await stats.flush()
    clock.set("2026-12-15T00:00:20")  # midnight passes: the 14th is written and let go
    stats.user_seen(9999, is_new=True)
    await stats.flush()
    clock.set("2026-12-14T23:59:40")  # NTP steps the clock back over midnight
    # The quota sees the day's counts before anything new is counted.
    assert stats.used_today(7, NANO) == (1, 100)
    stats.user_seen(1, is_new=False)
    stats.count_request(7, NANO, 50)
    stats.spend(7, NANO, 0.25)
    await stats.flush()
    day = DayStats.from_json(on_disk(tmp_path, "2026-12-14"))
    assert (len(day.active), day.new_users) == (500, 500)
    assert day.cost == pytest.approx(250.25)
    assert day.usage[f"7:{NANO}"] == [2, 150]
    clock.set("2026-12-15T00:00:30")  # and forward again: the 15th goes on too
    stats.user_seen(10000, is_new=True)
    await stats.flush()
    assert on_disk(tmp_path, "2026-12-15")["new_users"] == 2


async def test_a_step_forward_to_a_day_with_a_file_continues_it(tmp_path: Path) -> None:
    clock = Clock("2026-12-20T12:00:00")
    (tmp_path / "stats").mkdir()
    written = {"new_users": 40, "active": list(range(40)), "costs": {f"1:{NANO}": 9.5}}
    (tmp_path / "stats" / "2026-12-21.json").write_bytes(orjson.dumps(written))
    stats = await opened(tmp_path, clock)
    stats.user_seen(100, is_new=True)
    clock.set("2026-12-21T09:00:00")  # a clock set a day ahead by mistake
    stats.user_seen(101, is_new=True)
    await stats.flush()
    day = on_disk(tmp_path, "2026-12-21")
    assert (day["new_users"], len(day["active"])) == (41, 41)
    assert day["costs"] == {f"1:{NANO}": 9.5}
    assert on_disk(tmp_path, "2026-12-20")["new_users"] == 1


async def test_a_restart_during_the_day_continues_its_counts(tmp_path: Path) -> None:
    clock = Clock("2026-12-14T15:00:00")
    stats = await opened(tmp_path, clock)
    a_busy_day(stats)
    await stats.flush()
    again = await opened(tmp_path, clock)
    assert again.used_today(7, NANO) == (1, 100)
    again.user_seen(501, is_new=True)
    await again.flush()
    assert on_disk(tmp_path, "2026-12-14")["new_users"] == 501


async def test_a_month_step_back_continues_the_months_tokens(tmp_path: Path) -> None:
    """The same for plans' monthly allowances: going back into December did not find
    December's tokens, and wrote January's few over December's file."""
    clock = Clock("2026-12-31T23:59:00")
    stats = await opened(tmp_path, clock)
    stats.spend(8, "gpt-4o-mini", 0.1, plan="premium1", tokens=900_000)
    await stats.flush()
    clock.set("2027-01-01T00:00:10")
    assert stats.tokens_this_month(8, "premium1") == 0  # a new month starts from zero
    stats.spend(8, "gpt-4o-mini", 0.1, plan="premium1", tokens=1_000)
    await stats.flush()
    clock.set("2026-12-31T23:59:50")
    assert stats.tokens_this_month(8, "premium1") == 900_000
    stats.spend(8, "gpt-4o-mini", 0.1, plan="premium1", tokens=500)
    await stats.flush()
    assert on_disk(tmp_path, "month-2026-12")["tokens"] == {"8:premium1": 900_500}
    assert on_disk(tmp_path, "month-2027-01")["tokens"] == {"8:premium1": 1_000}


async def test_the_last_tokens_of_a_month_are_written_after_it_ends(tmp_path: Path) -> None:
    """Tokens counted just before midnight of the month's last day, and not yet flushed,
    were dropped when the first answer of the new month came."""
    clock = Clock("2026-12-31T23:59:50")
    stats = await opened(tmp_path, clock)
    stats.spend(8, "gpt-4o-mini", 0.1, plan="premium1", tokens=700)
    clock.set("2027-01-01T00:00:05")
    stats.spend(8, "gpt-4o-mini", 0.1, plan="premium1", tokens=30)
    await stats.flush()
    assert on_disk(tmp_path, "month-2026-12")["tokens"] == {"8:premium1": 700}
    assert on_disk(tmp_path, "month-2027-01")["tokens"] == {"8:premium1": 30}


async def test_a_failed_write_keeps_the_past_day_for_the_next_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock("2026-12-14T23:59:50")
    stats = await opened(tmp_path, clock)
    stats.user_seen(1, is_new=True)
    clock.set("2026-12-15T00:00:05")
    stats.user_seen(2, is_new=True)

    async def full_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as disk:
        disk.setattr(stats._storage, "save_stats", full_disk)
        with pytest.raises(OSError):
            await stats.flush()
    stats.user_seen(3, is_new=True)
    await stats.flush()
    assert on_disk(tmp_path, "2026-12-14")["new_users"] == 1
    assert on_disk(tmp_path, "2026-12-15")["new_users"] == 2


async def test_a_damaged_file_of_a_day_come_back_to_is_moved_aside(tmp_path: Path) -> None:
    clock = Clock("2026-12-15T00:00:05")
    stats = await opened(tmp_path, clock)
    told: list[str] = []

    async def listener(text: str) -> None:
        told.append(text)

    stats.problem_listeners.append(listener)
    (tmp_path / "stats" / "2026-12-14.json").write_bytes(b"")  # never fsynced
    clock.set("2026-12-14T23:59:55")
    stats.user_seen(1, is_new=True)
    await stats.flush()
    assert on_disk(tmp_path, "2026-12-14")["new_users"] == 1
    assert list((tmp_path / "quarantine" / "stats").glob("2026-12-14.json.*"))
    assert len(told) == 1 and "2026-12-14.json" in told[0]


async def test_a_day_whose_file_cannot_be_read_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock("2026-12-14T23:59:30")
    stats = await opened(tmp_path, clock)
    a_busy_day(stats)
    clock.set("2026-12-15T00:00:20")
    stats.user_seen(9999, is_new=True)
    await stats.flush()

    def failing_read(path: Path, default: Any = None) -> Any:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr("services.storage.json_documents.read_json", failing_read)
    clock.set("2026-12-14T23:59:40")
    stats.user_seen(1, is_new=False)  # not counted: the day's file cannot be read now
    await stats.flush()
    assert len(on_disk(tmp_path, "2026-12-14")["active"]) == 500
    monkeypatch.setattr("services.storage.json_documents.read_json", read_json)
    stats.count_request(7, NANO, 50)  # readable again: the day goes on
    await stats.flush()
    day = on_disk(tmp_path, "2026-12-14")
    assert len(day["active"]) == 500 and day["usage"][f"7:{NANO}"] == [2, 150]


async def test_quotas_reset_by_the_same_clock(tmp_path: Path, catalog: Catalog) -> None:
    clock = Clock("2026-12-14T23:59:40")
    stats = await opened(tmp_path, clock)
    money = await open_money(tmp_path, catalog)
    quota = QuotaService(catalog, AccessService(catalog, money.subscriptions), stats, MSK)
    midnight = dt.datetime(2026, 12, 15, tzinfo=MSK).timestamp()
    assert quota.resets_at() == midnight
    assert quota.month_resets_at() == dt.datetime(2027, 1, 1, tzinfo=MSK).timestamp()
