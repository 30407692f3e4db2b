"""JSON storage: atomic writes, coalescing, crash safety."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import services.storage.atomic as atomic
from config import load_settings
from services.catalog import Catalog
from services.container import collections_paused, create_services
from services.models import ChatTurn, Payment, Period, Subscription, UserRecord
from services.money.subscriptions import SubscriptionService
from services.operator.stats import StatsService
from services.storage import journal, json_money, json_users
from services.storage.atomic import FileWriter, read_json
from services.storage.base import (
    DAY,
    ConflictError,
    DamagedRecordError,
    StorageDamagedError,
    Transaction,
)
from services.storage.journal import LineBuffer
from services.storage.json_store import JsonStorage
from services.storage.records import month_of
from tests.unit.conftest import RETENTION, open_money


async def test_users_and_history_survive_a_new_instance(tmp_path: Path) -> None:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.save_user(UserRecord(id=7, first_name="Анна", model_key="gpt-5-nano"))
    await storage.save_history(
        7, "1", [ChatTurn("user", "привет"), ChatTurn("assistant", "здравствуйте")]
    )
    await storage.close()

    again = JsonStorage(tmp_path, RETENTION)
    await again.open()
    user = await again.get_user(7)
    assert user is not None and user.first_name == "Анна" and user.model_key == "gpt-5-nano"
    assert await again.load_history(7, "1") == [
        ChatTurn("user", "привет"),
        ChatTurn("assistant", "здравствуйте"),
    ]
    assert await again.count_users() == 1
    assert await again.get_user(8) is None


async def test_returned_user_is_a_copy(tmp_path: Path) -> None:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.save_user(UserRecord(id=1, model_key="a"))
    user = await storage.get_user(1)
    assert user is not None
    user.model_key = "b"  # not saved
    again = await storage.get_user(1)
    assert again is not None and again.model_key == "a"


async def test_concurrent_saves_coalesce_and_keep_the_newest_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = FileWriter()
    path = tmp_path / "counter.json"
    state = {"n": 0}
    writes = 0
    real_write = atomic.write_file_atomic

    def slow_counting_write(*args: Any, **kwargs: Any) -> None:
        nonlocal writes
        writes += 1
        time.sleep(0.01)
        real_write(*args, **kwargs)

    monkeypatch.setattr(atomic, "write_file_atomic", slow_counting_write)

    async def bump(i: int) -> None:
        state["n"] = i
        await writer.save(path, lambda: dict(state))

    await asyncio.gather(*(bump(i) for i in range(1, 101)))
    assert read_json(path) == {"n": 100}
    assert writes < 10  # 100 saves, a handful of writes
    assert not list(tmp_path.glob(".*.tmp"))


KILL_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {root!r})
from services.storage.json_store import JsonStorage
from services.storage.base import Retention
from services.models import UserRecord, ChatTurn

async def main():
    storage = JsonStorage(__import__("pathlib").Path({data!r}), Retention(86400))
    await storage.open()
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        await storage.save_user(UserRecord(id=1, first_name="x" * (i % 5000), model_key=str(i)))
        await storage.save_history(1, "1", [ChatTurn("user", "y" * (i % 7000))] * 3)

asyncio.run(main())
"""


def test_kill_9_mid_writes_leaves_valid_files(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    data = tmp_path / "data"
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT.format(root=root, data=str(data))],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        for path in data.rglob("*.json"):
            json.loads(path.read_bytes())  # every real file parses
    user = json.loads((data / "users" / "1.json").read_bytes())
    assert int(user["model_key"]) > 0


async def test_write_failure_is_reported_and_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    reports: list[str] = []

    async def listener(text: str) -> None:
        reports.append(text)

    storage.problem_listeners.append(listener)

    def broken_write(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "write_file_atomic", broken_write)
    with pytest.raises(OSError):
        await storage.save_user(UserRecord(id=3))
    assert reports and "No space left" in reports[0] and "3.json" in reports[0]


def test_a_short_write_is_completed_not_renamed_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: `os.write` may write less than asked (a nearly full disk); the rest was lost
    and the half-written temp file replaced the good one."""
    path = tmp_path / "payments.json"
    path.write_bytes(b'{"good": true}')
    real_write = os.write

    def half_write(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data[: max(1, len(data) // 2)]))

    monkeypatch.setattr(os, "write", half_write)
    payload = json.dumps({"items": list(range(5000))}).encode()
    atomic.write_file_atomic(path, payload)
    assert json.loads(path.read_bytes()) == {"items": list(range(5000))}


def test_a_full_disk_raises_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "payments.json"
    path.write_bytes(b'{"good": true}')
    real_write = os.write
    calls = 0

    def disk_fills_up(fd: int, data: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data[:10]))  # some bytes fit...
        raise OSError(28, "No space left on device")  # ...then none

    monkeypatch.setattr(os, "write", disk_fills_up)
    with pytest.raises(OSError):
        atomic.write_file_atomic(path, b'{"new": "' + b"x" * 1000 + b'"}')
    assert json.loads(path.read_bytes()) == {"good": True}
    assert not list(tmp_path.glob(".*.tmp"))


async def test_a_cancelled_save_does_not_let_the_next_write_overlap_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: cancelling a caller mid-write released the per-file lock while its thread
    still wrote; the next save then wrote at the same time (through the same temp file)."""
    writer = FileWriter()
    path = tmp_path / "history.json"
    real_write = atomic.write_file_atomic
    running = 0
    overlapped = False

    def slow_write(*args: Any, **kwargs: Any) -> None:
        nonlocal running, overlapped
        running += 1
        overlapped = overlapped or running > 1
        time.sleep(0.2)
        real_write(*args, **kwargs)
        running -= 1

    monkeypatch.setattr(atomic, "write_file_atomic", slow_write)
    first = asyncio.create_task(writer.save(path, lambda: {"v": 1}))
    await asyncio.sleep(0.05)
    first.cancel()
    await writer.save(path, lambda: {"v": 2})
    await writer.drain()
    assert not overlapped
    assert read_json(path) == {"v": 2}
    assert first.cancelled()


async def test_a_damaged_user_file_is_moved_aside_and_the_user_goes_on(tmp_path: Path) -> None:
    """Defect: one damaged users/<id>.json failed that user's every update and /broadcast."""
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.save_user(UserRecord(id=1, first_name="ok"))
    (tmp_path / "users" / "2.json").write_bytes(b'{"id": 2, "first_na')
    (tmp_path / "history" / "2.json").write_bytes(b"")
    told: list[str] = []

    async def listener(text: str) -> None:
        told.append(text)

    fresh = JsonStorage(tmp_path, RETENTION)  # nothing cached
    await fresh.open()
    fresh.problem_listeners.append(listener)
    assert [user.id async for user in fresh.iter_users()] == [1]
    assert await fresh.get_user(2) is None  # registers anew
    assert await fresh.load_conversations(2) is not None  # the old memory was damaged...
    assert await fresh.load_history(2, "1") == []  # ...so the conversation starts empty
    quarantined = sorted(p.name for p in (tmp_path / "quarantine").rglob("*") if p.is_file())
    assert len(quarantined) == 2 and any(name.startswith("2.json.") for name in quarantined)
    assert len(told) == 2 and all("2.json" in text for text in told)
    await fresh.save_user(UserRecord(id=2, first_name="again"))
    again = await JsonStorage(tmp_path, RETENTION).get_user(2)
    assert again is not None and again.first_name == "again"


async def test_an_empty_stats_file_is_quarantined_not_fatal(tmp_path: Path) -> None:
    """Defect: one empty stats file (written without fsync) stopped start-up."""
    zone = ZoneInfo("Europe/Moscow")
    stats = StatsService(JsonStorage(tmp_path, RETENTION), zone)
    (tmp_path / "stats").mkdir()
    (tmp_path / "stats" / f"{stats.today().isoformat()}.json").write_bytes(b"")
    told: list[str] = []

    async def listener(text: str) -> None:
        told.append(text)

    stats.problem_listeners.append(listener)
    await stats.load()
    stats.user_seen(5, is_new=True)
    await stats.flush()
    assert len(told) == 1 and "quarantine" in told[0]
    summary = await stats.summary(7)
    assert summary.new_today == 1


async def test_only_today_stays_in_memory(tmp_path: Path) -> None:
    """Statistics days are read on demand, not kept: memory does not grow with history."""
    zone = ZoneInfo("Europe/Moscow")
    stats = StatsService(JsonStorage(tmp_path, RETENTION), zone)
    (tmp_path / "stats").mkdir()
    for offset in range(1, 40):
        day = stats.today() - dt.timedelta(days=offset)
        (tmp_path / "stats" / f"{day.isoformat()}.json").write_text(
            json.dumps({"new_users": offset, "active": [offset]})
        )
    await stats.load()
    assert len(stats._days) == 1
    summary = await stats.summary(30)
    assert sum(count for _, count in summary.daily_new_users) == sum(range(1, 30))
    assert len(stats._days) == 1


async def test_damaged_money_file_stops_start_up_naming_it_and_the_backup(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    await money.payments.open_invoice(1, "premium1", "sbp")
    await money.storage.maintain()  # snapshot written, the previous one kept as .bak
    await money.payments.open_invoice(2, "premium1", "sbp")
    await money.storage.maintain()
    await money.storage.close()
    snapshot = tmp_path / "payments.json"
    snapshot.write_bytes(snapshot.read_bytes()[:40])
    with pytest.raises(StorageDamagedError) as error:
        await open_money(tmp_path, catalog)
    text = str(error.value)
    assert "payments.json is damaged" in text and "payments.json.bak" in text
    assert "\n" not in text
    # Restoring the backup as told gives every record back.
    snapshot.write_bytes((tmp_path / "payments.json.bak").read_bytes())
    restored = await open_money(tmp_path, catalog)
    assert {p.user_id for p in restored.payments.with_status("pending")} == {1, 2}


async def test_concurrent_history_saves_of_a_new_owner_keep_the_newest(tmp_path: Path) -> None:
    """The first saves into a new conversation folder must land in the order they were made
    (a folder created with an await before the write once let an older save win)."""
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await asyncio.gather(
        *(storage.save_history(42, "1", [ChatTurn("user", str(n))]) for n in range(20))
    )
    await storage.close()
    again = JsonStorage(tmp_path, RETENTION)
    assert await again.load_history(42, "1") == [ChatTurn("user", "19")]


# Start-up memory at L (issue 15, defect 12) -----------------------------------------------
def running_subscriptions(count: int, now: float) -> list[Subscription]:
    """Running subscriptions as a busy bot holds them: two periods (a payment, a promo
    code), one reminder sent."""
    return [
        Subscription(
            100_000_000 + index,
            ("premium1", "ai_group", "power_group", "gpt_pro")[index % 4],
            (
                Period(now - 10 * DAY + index, now + 20 * DAY, f"payment:{index:012x}"),
                Period(now + 20 * DAY, now + 50 * DAY, f"promo:CODE{index % 7}"),
            ),
            (f"3d:{now:.0f}",),
        )
        for index in range(count)
    ]


async def snapshot_of(data_dir: Path, subscriptions: list[Subscription]) -> None:
    """The subscriptions compacted into subscriptions.json, as a bot that ran a while has
    them (the journal folded in is kept for the .bak snapshot)."""
    storage = JsonStorage(data_dir, RETENTION)
    await storage.open()
    await storage.commit(Transaction(subscriptions=subscriptions))
    await storage.maintain()
    await storage.close()


async def test_load_money_never_holds_a_table_as_json_dicts(tmp_path: Path) -> None:
    """Start-up read a whole table into dicts before making records of it: at L with 60k
    running subscriptions the dicts took 100 MB on top of the records (peak 2.1x what
    stays), and left that much behind in the allocator. Each record is made as its line
    is read now."""
    await snapshot_of(tmp_path, running_subscriptions(3000, time.time()))
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    for stale in (tmp_path / "journal").glob("*.jsonl"):
        stale.unlink()  # measure the snapshot alone (the journal is the next test's)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        money = await storage.load_money()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(money.subscriptions) == 3000
    assert (peak - before) / (retained - before) < 1.5


async def test_start_up_skips_journals_every_snapshot_already_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal folded into the snapshots stays for the .bak ones; start-up parsed it
    again for nothing (up to the snapshots' size: tens of MB at L)."""
    now = time.time()
    first, later = running_subscriptions(2, now)
    await snapshot_of(tmp_path, [first])
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.commit(Transaction(subscriptions=[later]))
    await storage.close()
    read: list[str] = []
    real_read = journal.read_journal

    def spy(path: Path) -> Iterator[dict[str, Any]]:
        read.append(path.name)
        return real_read(path)

    monkeypatch.setattr(json_money, "read_journal", spy)
    money = await JsonStorage(tmp_path, RETENTION).load_money()
    assert {s.key for s in money.subscriptions} == {first.key, later.key}
    kept = sorted(path.name for path in (tmp_path / "journal").glob("*.jsonl"))
    assert kept[0] not in read and read == kept[1:]


def test_month_of_is_the_utc_month_at_its_edges() -> None:
    def moment(text: str) -> float:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()

    assert month_of(moment("2026-01-31T23:59:59.999")) == "2026-01"
    assert month_of(moment("2026-02-01T00:00:00")) == "2026-02"
    assert month_of(moment("2024-02-29T12:00:00")) == "2024-02"
    assert month_of(moment("2026-12-31T23:59:59")) == "2026-12"
    assert month_of(0.0) == "1970-01"


def test_line_buffer_gives_each_line_back() -> None:
    lines = [b'{"a":1}', b"x" * 70_000, b"[]", b'{"text":"\\n is escaped"}']
    buffer = LineBuffer()
    for line in lines:
        buffer.append(line)
    assert list(buffer) == lines
    assert list(LineBuffer()) == []


async def test_loaded_payments_share_their_plan_method_and_status(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    for user_id in (1, 2):
        await money.payments.open_invoice(user_id, "premium1", "yoomoney")
    await money.storage.close()
    first, second = (await JsonStorage(tmp_path, RETENTION).load_money()).payments
    for name in ("plan_id", "method", "currency", "status"):
        assert getattr(first, name) is getattr(second, name), name


async def test_start_up_loads_the_live_set_with_the_collector_paused(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector walked the whole live set five times while start-up loaded it (0.6 s
    of 1.5 s at L60); it is paused until the services are built, then as it was."""
    await snapshot_of(tmp_path, running_subscriptions(30, time.time()))
    for name, value in (("BOT_TOKEN", "42:TEST"), ("DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)
    collecting: dict[str, bool] = {}
    real_read, real_load = json_money.load_live_records, SubscriptionService.load

    def read(data_dir: Path) -> dict[str, dict[str, Any]]:
        collecting["reading"] = gc.isenabled()
        return real_read(data_dir)

    def load(service: SubscriptionService, subscriptions: Iterable[Subscription]) -> None:
        collecting["installing"] = gc.isenabled()
        real_load(service, subscriptions)

    monkeypatch.setattr(json_money, "load_live_records", read)
    monkeypatch.setattr(SubscriptionService, "load", load)
    services = await create_services(load_settings(_env_file=None), catalog)
    await services.close()
    assert len(services.subscriptions.subscriptions()) == 30
    assert collecting == {"reading": False, "installing": False} and gc.isenabled()


def test_paused_collections_come_back_as_they_were() -> None:
    with pytest.raises(RuntimeError), collections_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with collections_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_a_failed_journal_write_gives_the_money_rules_claim_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's rules index follows the disk: an invoice whose line was never written
    holds no place, so the same invoice commits once the disk works again."""
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.load_money()
    now = time.time()
    invoice = Payment("p1", 1, "premium1", "sbp", 675.0, "RUB", "pending", now, now)
    real_write = journal.Journal._write

    def full_disk(self: journal.Journal, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal.Journal, "_write", full_disk)
    with pytest.raises(OSError):
        await storage.commit(Transaction(payments=[invoice]))
    monkeypatch.setattr(journal.Journal, "_write", real_write)
    other = Payment("p2", 1, "premium1", "sbp", 675.0, "RUB", "pending", now + 1, now + 1)
    await storage.commit(Transaction(payments=[other]))  # p1 is not open: p2 may be
    with pytest.raises(ConflictError):
        await storage.commit(Transaction(payments=[invoice]))
    await storage.close()
    assert [p.id for p in (await JsonStorage(tmp_path, RETENTION).load_money()).payments] == ["p2"]


async def test_a_username_search_reads_the_user_files_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: every admin search by @username read every user file; now the first one
    builds an index that saves keep current (a save stays one small file)."""
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    for user_id in range(50):
        await storage.save_user(UserRecord(id=user_id, username=f"user{user_id}"))
    fresh = JsonStorage(tmp_path, RETENTION)
    scans = 0
    real_iter = json_users.UserFiles.iter

    def counting(self: json_users.UserFiles) -> Any:
        nonlocal scans
        scans += 1
        return real_iter(self)

    monkeypatch.setattr(json_users.UserFiles, "iter", counting)
    assert (await fresh.find_user_by_username("User7")) == UserRecord(id=7, username="user7")
    await fresh.save_user(UserRecord(id=99, username="late"))
    found = [await fresh.find_user_by_username(name) for name in ("user42", "late", "none")]
    assert [user.id if user else None for user in found] == [42, 99, None]
    assert scans == 1


async def test_damaged_statistics_are_set_aside_and_damaged_state_is_left(
    tmp_path: Path,
) -> None:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    (tmp_path / "stats" / "2026-12-14.json").write_bytes(b'{"new_users": 4')
    (tmp_path / "model_check.json").write_bytes(b"not json")
    with pytest.raises(DamagedRecordError) as error:
        await storage.load_stats("2026-12-14")
    assert error.value.what == "2026-12-14.json"
    assert error.value.moved_to is not None and (tmp_path / error.value.moved_to).exists()
    assert await storage.load_stats("2026-12-14") is None  # it is gone: counting starts anew
    with pytest.raises(DamagedRecordError) as state_error:
        await storage.load_state("model_check")
    assert state_error.value.moved_to is None and (tmp_path / "model_check.json").exists()
