"""Crash safety of the storage: kill -9 under load, a full disk, a failed journal write."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import services.storage.atomic as atomic
from services.catalog import Catalog
from services.models import Payment
from services.money.payments import CreditResult
from services.money.subscriptions import DAY
from services.storage.journal import archive_months, journal_numbers, journal_path, read_archive
from services.storage.json_store import read_live_records
from tests.unit.conftest import ROOT, Money, open_money

TABLES = ("payments", "subscriptions", "promo_codes", "promo_activations", "unmatched_money")


# Helpers ---------------------------------------------------------------------------------
def assert_every_json_file_parses(data: Path) -> int:
    """Every `*.json` (users, history, snapshots...) is whole, valid JSON."""
    count = 0
    for path in data.rglob("*.json"):
        if "quarantine" in path.relative_to(data).parts:
            continue
        try:
            json.loads(path.read_bytes())
        except ValueError as error:
            raise AssertionError(f"{path.relative_to(data)} is not valid JSON: {error}") from None
        count += 1
    return count


def assert_journals_are_line_clean(data: Path) -> None:
    """Each journal file is whole lines of valid JSON (a failed write was cut off again)."""
    folder = data / "journal"
    for number in journal_numbers(folder):
        raw = journal_path(folder, number).read_bytes()
        assert not raw or raw.endswith(b"\n"), f"journal {number} ends with a torn line"
        for line in raw.splitlines():
            json.loads(line)


def assert_snapshots_are_format_2(data: Path) -> None:
    for table in TABLES:
        path = data / f"{table}.json"
        if path.exists():
            assert path.read_bytes().startswith(b'{"format":2'), f"{path.name} is not format 2"
            snapshot = json.loads(path.read_bytes())
            assert snapshot["table"] == table and isinstance(snapshot["records"], list)


def sources_of(money: Money, user_id: int) -> list[tuple[str, str]]:
    """(plan, source) of every period the user holds (live subscriptions)."""
    return [
        (subscription.plan_id, period.source)
        for subscription in money.subscriptions.subscriptions()
        if subscription.user_id == user_id
        for period in subscription.periods
    ]


def archived_subscription_sources(data: Path) -> set[tuple[int, str, str]]:
    """(user, plan, source) of every period in the subscription archive."""
    found: set[tuple[int, str, str]] = set()
    for month in archive_months(data / "archive" / "subscriptions"):
        for raw in read_archive(month):
            for period in raw.get("periods", ()):
                found.add((raw["user_id"], raw["plan_id"], period["source"]))
    return found


class BrokenDisk:
    """Stands in for `os` in services.storage.atomic (whose `write_all` the journal, the
    snapshots and the archives use): once armed, the next write gets only half of its
    first line onto the disk and the write after it fails with ENOSPC, like a disk filling up
    mid-write. `only` limits the damage to files whose path contains it."""

    def __init__(self, only: str = "") -> None:
        self.only = only
        self.armed = False
        self.calls = 0
        self.torn: bytes = b""  # what the cut-short write was asked to write

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def arm(self) -> None:
        self.armed, self.calls, self.torn = True, 0, b""

    def write(self, fd: int, data: Any) -> int:
        if not self.armed or self.only not in str(Path(f"/proc/self/fd/{fd}").readlink()):
            return os.write(fd, data)
        self.calls += 1
        if self.calls == 1:
            self.torn = bytes(data)
            first_line = self.torn.find(b"\n") + 1 or len(self.torn)
            return os.write(fd, self.torn[: max(1, first_line // 2)])
        self.armed = False
        raise OSError(errno.ENOSPC, "No space left on device")


# 1a. kill -9 under a mixed load ----------------------------------------------------------
LOAD_SCRIPT = r"""
import asyncio, json, random, sys
args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
from pathlib import Path
from zoneinfo import ZoneInfo

import services.storage.json_money as json_money
import services.storage.json_store as json_store
from services.catalog import load_catalog
from services.models import ChatTurn, UserRecord
from services.money.payments import METHODS, PaymentService
from services.money.promo import PromoError, PromoService
from services.storage.base import DAY, Retention
from services.money.subscriptions import SubscriptionService

json_money.MIN_COMPACTION_BYTES = 4096  # so that compaction also starts on its own


def say(*parts):
    print(*parts, flush=True)


async def main():
    rng = random.Random(args["seed"])
    catalog = load_catalog(Path(args["root"]) / "catalog.toml")
    retention = Retention(open_payment_seconds=8 * DAY)  # as tests/unit/conftest.py
    storage = json_store.JsonStorage(Path(args["data"]), retention)
    await storage.open()
    state = await storage.load_money()
    subscriptions = SubscriptionService(storage, catalog)
    subscriptions.load(state.subscriptions)
    promo = PromoService(storage, subscriptions, ZoneInfo("Europe/Moscow"))
    await promo.load(state.promo_codes, state.promo_activations)
    payments = PaymentService(storage, subscriptions, retention, invoice_ttl=DAY)
    await payments.load(state.payments, state.unmatched)
    code, users = args["code"], args["users"]
    if promo.get(code) is None:
        await promo.create(code, "premium1", 30, created_by=1, max_uses=args["max_uses"])
        say("created", code)
    plans = [plan.id for plan in catalog.plans]
    counter = args["counter"]
    crediting = set()
    say("ready")

    def next_number():
        nonlocal counter
        counter += 1
        return counter

    async def invoice():
        user, method = rng.randint(1, users), rng.choice(METHODS)
        payment = await payments.open_invoice(user, rng.choice(plans), method)
        if method != "sbp" or payment.status != "pending" or payment.id in crediting:
            return
        # One credit call per invoice here: two at once are a test of their own.
        crediting.add(payment.id)
        result = await payments.credit(payment.id, decided_by=1)
        say("paid", result.payment.id, result.payment.user_id)

    async def activate():
        user = rng.randint(1, args["promo_users"])
        try:
            await promo.activate(user, code)
        except PromoError:
            return
        say("activated", code, user)

    async def grant():
        user, plan = rng.randint(1, users), rng.choice(plans)
        source = f"admin:1:{next_number()}"
        await subscriptions.grant(user, plan, rng.randint(1, 30), source)
        say("granted", user, plan, source)

    async def save_user():
        user, number = rng.randint(1, users), next_number()
        name = "u" * rng.randint(0, 3000)
        await storage.save_user(UserRecord(id=user, first_name=name, model_key=str(number)))
        say("user", user, number)

    async def save_history():
        user, number = rng.randint(1, users), next_number()
        turns = [ChatTurn("user", str(number)), ChatTurn("assistant", "a" * rng.randint(0, 30000))]
        await storage.save_history(user, "1", turns)
        say("history", user, number)

    operations = [invoice] * 4 + [activate] * 2 + [grant] * 2 + [save_user] * 2 + [save_history] * 2

    async def worker():
        while True:
            await rng.choice(operations)()
            await asyncio.sleep(rng.random() * args["pause"])

    async def maintainer():
        while True:
            await asyncio.sleep(rng.uniform(0.02, 0.2))
            await storage.maintain()
            say("maintained")

    jobs = [worker() for _ in range(args["workers"])] + [maintainer()]
    await asyncio.wait_for(asyncio.gather(*jobs), args["give_up_after"])


asyncio.run(main())
"""

SEED = 20_260_601
ROUNDS = 50
PROMO_CODE = "KILL9"
PROMO_MAX_USES = 150


@dataclass
class Confirmed:
    """What the killed processes confirmed (printed after an awaited write returned)."""

    paid: dict[str, int] = field(default_factory=dict)  # payment id -> user
    activated: set[int] = field(default_factory=set)
    granted: list[tuple[int, str, str]] = field(default_factory=list)  # user, plan, source
    users: dict[int, int] = field(default_factory=dict)  # user -> newest confirmed model key
    histories: dict[int, int] = field(default_factory=dict)  # user -> newest confirmed turn
    maintained: int = 0
    counter: int = 0  # the highest number handed out so far

    def read(self, output: bytes) -> int:
        lines = [line for line in output.splitlines(keepends=True) if line.endswith(b"\n")]
        for line in lines:
            kind, *rest = line.decode().split()
            if kind == "paid":
                self.paid[rest[0]] = int(rest[1])
            elif kind == "activated":
                assert rest[0] == PROMO_CODE
                self.activated.add(int(rest[1]))
            elif kind == "granted":
                self.granted.append((int(rest[0]), rest[1], rest[2]))
                self.counter = max(self.counter, int(rest[2].rsplit(":", 1)[1]))
            elif kind in ("user", "history"):
                known = self.users if kind == "user" else self.histories
                user, number = int(rest[0]), int(rest[1])
                known[user] = max(known.get(user, 0), number)
                self.counter = max(self.counter, number)
            elif kind == "maintained":
                self.maintained += 1
        return len(lines)


def wait_for_ready(process: subprocess.Popen[bytes], out: Path, err: Path) -> None:
    deadline = time.monotonic() + 20
    while b"ready\n" not in out.read_bytes():
        if process.poll() is not None:
            raise AssertionError(f"the load script stopped:\n{err.read_text()}")
        assert time.monotonic() < deadline, "the load script never got ready"
        time.sleep(0.002)


async def check_confirmed_facts(data: Path, catalog: Catalog, confirmed: Confirmed) -> None:
    money = await open_money(data, catalog)  # the services open again
    try:
        periods = Counter(
            (subscription.user_id, subscription.plan_id, period.source)
            for subscription in money.subscriptions.subscriptions()
            for period in subscription.periods
        )
        by_source = Counter((user, source) for user, _, source in periods.elements())
        for payment_id, user in confirmed.paid.items():
            payment = await money.payments.find(payment_id)
            assert payment is not None, f"confirmed payment {payment_id} is gone"
            assert payment.status == "paid" and payment.user_id == user, payment
            count = by_source[user, f"payment:{payment_id}"]
            assert count == 1, f"payment {payment_id}: {count} periods"
        activations = read_live_records(data)["promo_activations"]
        recorded = {row["user_id"] for row in activations.values() if row["code"] == PROMO_CODE}
        promo = f"promo:{PROMO_CODE}"
        with_period = {user for user, source in by_source if source == promo}
        assert all(by_source[user, promo] == 1 for user in with_period), "two promo periods"
        missing = confirmed.activated - recorded
        assert not missing, f"confirmed activations lost: {sorted(missing)}"
        assert recorded == with_period, "an activation without its period or the reverse"
        assert money.promo.uses(PROMO_CODE) == len(recorded) <= PROMO_MAX_USES
        for user, plan, source in confirmed.granted:
            assert periods[user, plan, source] == 1, f"grant {source} to {user}: not once"
        for user, number in confirmed.users.items():
            raw = json.loads((data / "users" / f"{user}.json").read_bytes())
            assert int(raw["model_key"]) >= number, f"user {user}: {raw['model_key']} < {number}"
        for user, number in confirmed.histories.items():
            turns = json.loads((data / "history" / str(user) / "1.json").read_bytes())
            assert int(turns[0]["content"]) >= number, f"history {user} went back"
    finally:
        await money.storage.close()


@pytest.mark.timeout(180)
async def test_kill_9_at_random_instants_under_mixed_load(tmp_path: Path, catalog: Catalog) -> None:
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    data = tmp_path / "data"
    confirmed = Confirmed()
    started = time.monotonic()
    for number in range(1, ROUNDS + 1):
        out, err = tmp_path / f"round-{number}.out", tmp_path / f"round-{number}.err"
        args = {
            "root": str(ROOT),
            "data": str(data),
            "seed": SEED + number,
            "code": PROMO_CODE,
            "max_uses": PROMO_MAX_USES,
            "users": 300,
            "promo_users": 3000,
            "counter": confirmed.counter + 1_000_000,  # model keys keep growing
            "workers": 8,
            "pause": 0.004,
            "give_up_after": 30,
        }
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-c", LOAD_SCRIPT, json.dumps(args)],
                stdout=stdout,
                stderr=stderr,
            )
        try:
            wait_for_ready(process, out, err)
            time.sleep(rng.uniform(0.05, 0.6))
            assert process.poll() is None, f"the load stopped on its own:\n{err.read_text()}"
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
        lines = confirmed.read(out.read_bytes())
        leftovers = [p.name for p in data.rglob(".*.tmp")]
        torn = [
            path.name
            for path in (data / "journal").glob("*.jsonl")
            if path.stat().st_size and not path.read_bytes().endswith(b"\n")
        ]
        print(f"round {number}: {lines} confirmations; temp files {leftovers}, torn {torn}")
        assert_every_json_file_parses(data)
        await check_confirmed_facts(data, catalog, confirmed)
    elapsed = time.monotonic() - started
    print(
        f"{ROUNDS} rounds in {elapsed:.1f} s: {len(confirmed.paid)} paid, "
        f"{len(confirmed.activated)} activated, {len(confirmed.granted)} granted, "
        f"{len(confirmed.users)} users, {len(confirmed.histories)} histories, "
        f"{confirmed.maintained} compactions asked for"
    )
    # The load really ran: every kind of write was confirmed many times over.
    assert len(confirmed.paid) > 100 and len(confirmed.granted) > 100
    assert len(confirmed.activated) > 20 and confirmed.maintained > 20
    assert len(confirmed.users) > 100 and len(confirmed.histories) > 100
    assert not (data / "quarantine").exists()


# 1b. A full disk ------------------------------------------------------------------------
DISK_SCRIPT = r"""
import asyncio, json, resource, signal, sys
args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
from pathlib import Path
from zoneinfo import ZoneInfo

from services.catalog import load_catalog
from services.models import ChatTurn, UserRecord
from services.money.payments import PaymentService
from services.money.promo import PromoService
from services.storage.base import DAY, Retention
from services.storage.json_store import JsonStorage
from services.money.subscriptions import SubscriptionService

LIMIT = args["limit"]
# No file may grow past LIMIT bytes: a write crossing it is cut short, the next one fails
# with EFBIG (the signal would kill the process instead).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def say(*parts):
    print(*parts, flush=True)


def failed(what, error):
    say("failed", what, getattr(error, "errno", None), repr(error).replace("\n", " "))


async def main():
    catalog = load_catalog(Path(args["root"]) / "catalog.toml")
    retention = Retention(open_payment_seconds=8 * DAY)
    storage = JsonStorage(Path(args["data"]), retention)
    problems = []

    async def problem(text):
        problems.append(text)
        say("problem", text.replace("\n", " "))

    storage.problem_listeners.append(problem)
    await storage.open()
    state = await storage.load_money()
    subscriptions = SubscriptionService(storage, catalog)
    subscriptions.load(state.subscriptions)
    promo = PromoService(storage, subscriptions, ZoneInfo("Europe/Moscow"))
    await promo.load(state.promo_codes, state.promo_activations)
    payments = PaymentService(storage, subscriptions, retention, invoice_ttl=DAY)
    await payments.load(state.payments, state.unmatched)

    # Good data first.
    await storage.save_user(UserRecord(id=1, first_name="Анна", model_key="1"))
    say("user", 1, 1)
    await storage.save_history(1, "1", [ChatTurn("user", "привет"), ChatTurn("assistant", "да")])
    say("history", 1)
    await promo.create("DISK", "premium1", 30, created_by=1, max_uses=1000)
    for user in range(1, 6):
        payment = await payments.open_invoice(user, "premium1", "sbp")
        await payments.credit(payment.id, decided_by=1)
        say("paid", payment.id, user)
        await promo.activate(user, "DISK")
        say("activated", "DISK", user)
    await storage.maintain()
    say("compacted", bool(problems))

    next_user = 1000

    async def grant(user):
        source = f"admin:1:{user}"
        try:
            await subscriptions.grant(user, "ai_group", 30, source)
        except Exception as error:
            failed("journal", error)
            say("undone", user, not subscriptions.has_source(user, source))
            return False
        say("granted", user, "ai_group", source)
        return True

    async def fill_the_journal():
        nonlocal next_user
        while True:
            batch = range(next_user, next_user + 20)
            next_user += 20
            if not all(await asyncio.gather(*(grant(user) for user in batch))):
                return

    # The journal outgrows the limit; then the snapshots do: after each full journal a
    # compaction (rotating to a new journal file) until one fails for its size.
    await fill_the_journal()
    for _ in range(20):
        told = len(problems)
        await storage.maintain()
        if any("compaction failed" in text for text in problems[told:]):
            say("compaction-failed")
            break
        await fill_the_journal()
    for _ in range(3):  # the journal goes on in its new file
        if await grant(next_user):
            next_user += 1

    # User and conversation files bigger than the limit.
    big = "x" * LIMIT
    for what, write in (
        ("user", lambda: storage.save_user(UserRecord(id=1, first_name=big, model_key="2"))),
        ("new-user", lambda: storage.save_user(UserRecord(id=2, first_name=big, model_key="2"))),
        ("history", lambda: storage.save_history(1, "1", [ChatTurn("user", big)])),
    ):
        try:
            await write()
        except Exception as error:
            failed(what, error)
        else:
            say("not-failed", what)
    await storage.save_user(UserRecord(id=3, model_key="3"))  # small writes still work
    say("user", 3, 3)
    await storage.close()
    say("done")


asyncio.run(main())
"""

DISK_LIMIT = 64 << 10


async def test_full_disk_never_replaces_good_data_with_bad(
    tmp_path: Path, catalog: Catalog
) -> None:
    data = tmp_path / "data"
    args = {"root": str(ROOT), "data": str(data), "limit": DISK_LIMIT}
    started = time.monotonic()
    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", DISK_SCRIPT, json.dumps(args)],
        capture_output=True,
        timeout=120,
    )
    lines = finished.stdout.decode().splitlines()
    print(f"the full-disk script ran {time.monotonic() - started:.1f} s")
    print("\n".join(line for line in lines if not line.startswith(("granted", "undone"))))
    assert finished.returncode == 0 and lines[-1] == "done", finished.stderr.decode()[-3000:]

    # Every failure reached its caller as an error (EFBIG), and the memory was put back.
    failures = {line.split()[1]: line for line in lines if line.startswith("failed ")}
    assert set(failures) == {"journal", "user", "new-user", "history"}, failures
    for line in failures.values():
        assert line.split()[2] == str(errno.EFBIG), line
    assert not [line for line in lines if line.startswith("not-failed")]
    undone = [line for line in lines if line.startswith("undone")]
    assert undone and all(line.endswith("True") for line in undone), undone
    # A compaction too big for the disk is told to the admins (maintain() does not raise).
    assert "compaction-failed" in lines
    assert "compacted False" in lines  # the first, small one worked
    assert any(line.startswith("problem Storage write failed: 1.json") for line in lines)

    # Nothing valid became invalid; the oversized writes left the old files as they were.
    assert_every_json_file_parses(data)
    assert_snapshots_are_format_2(data)
    assert_journals_are_line_clean(data)
    assert all(path.stat().st_size <= DISK_LIMIT for path in data.rglob("*") if path.is_file())
    user = json.loads((data / "users" / "1.json").read_bytes())
    assert (user["first_name"], user["model_key"]) == ("Анна", "1")
    assert not (data / "users" / "2.json").exists()
    assert json.loads((data / "history" / "1" / "1.json").read_bytes()) == [
        {"role": "user", "content": "привет"},
        {"role": "assistant", "content": "да"},
    ]
    assert json.loads((data / "users" / "3.json").read_bytes())["model_key"] == "3"
    assert not list(data.rglob("*.tmp"))

    # Every confirmed write holds, before and after a compaction with room on the disk.
    paid = [line.split()[1:] for line in lines if line.startswith("paid ")]
    activated = [int(line.split()[2]) for line in lines if line.startswith("activated ")]
    granted = [line.split()[1:] for line in lines if line.startswith("granted ")]
    assert len(paid) == 5 and len(activated) == 5 and len(granted) > 500
    for round_ in ("as left", "compacted"):
        money = await open_money(data, catalog)
        for payment_id, payer in paid:
            payment = money.payments.get(payment_id)
            assert payment is not None and payment.status == "paid", (round_, payment_id)
            assert ("premium1", f"payment:{payment_id}") in sources_of(money, int(payer))
        for user_id in activated:
            assert money.promo.used_by("DISK", user_id), (round_, user_id)
            assert ("premium1", "promo:DISK") in sources_of(money, user_id)
        held = {
            (s.user_id, s.plan_id, p.source)
            for s in money.subscriptions.subscriptions()
            for p in s.periods
        }
        lost = [g for g in granted if (int(g[0]), g[1], g[2]) not in held]
        assert not lost, f"{round_}: {len(lost)} confirmed grants lost, e.g. {lost[:3]}"
        failed_sources = {f"admin:1:{line.split()[1]}" for line in undone}
        assert not {p[2] for p in held} & failed_sources, "a failed grant came back"
        if round_ == "as left":
            await money.storage.maintain()
        await money.storage.close()
    assert_every_json_file_parses(data)
    assert_snapshots_are_format_2(data)


# 1c. A failed journal write --------------------------------------------------------------
async def test_a_failed_journal_write_leaves_no_torn_line(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    money = await open_money(tmp_path, catalog)
    reports: list[str] = []

    async def listener(text: str) -> None:
        reports.append(text)

    money.storage.problem_listeners.append(listener)
    await money.promo.create("FULL", "premium1", 7, created_by=1, max_uses=5)
    first = await money.payments.open_invoice(1, "premium1", "sbp")
    journal = journal_path(tmp_path / "journal", journal_numbers(tmp_path / "journal")[-1])
    before = journal.read_bytes()
    assert before.count(b"\n") == 2
    pending = money.payments.with_status("pending")
    disk = BrokenDisk()
    monkeypatch.setattr(atomic, "os", disk)

    # A new invoice: written half, then the disk is full.
    disk.arm()
    with pytest.raises(OSError) as error:
        await money.payments.open_invoice(2, "premium1", "sbp")
    assert error.value.errno == errno.ENOSPC and disk.calls == 2
    lost_id = re.search(rb'"id":"([0-9a-f]+)"', disk.torn)
    assert lost_id is not None
    assert money.payments.with_status("pending") == pending  # put back
    assert money.payments.get(lost_id[1].decode()) is None
    assert journal.read_bytes() == before

    # A credit: the payment stays pending, no period.
    disk.arm()
    with pytest.raises(OSError):
        await money.payments.credit(first.id, decided_by=1)
    again = money.payments.get(first.id)
    assert again is not None and again.status == "pending"
    assert not money.subscriptions.has_source(1, f"payment:{first.id}")
    assert journal.read_bytes() == before

    # A promo activation: not counted, no period.
    disk.arm()
    with pytest.raises(OSError):
        await money.promo.activate(3, "FULL")
    assert money.promo.uses("FULL") == 0 and not money.promo.used_by("FULL", 3)
    assert not money.subscriptions.has_source(3, "promo:FULL")
    assert journal.read_bytes() == before
    assert len([text for text in reports if "Journal write failed" in text]) == 3

    # The disk has room again: the next commits land after the last whole line.
    second = await money.payments.open_invoice(2, "premium1", "sbp")
    await money.payments.credit(first.id, decided_by=1)
    await money.promo.activate(3, "FULL")
    after = journal.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 5
    assert_journals_are_line_clean(tmp_path)
    await money.storage.close()

    restarted = await open_money(tmp_path, catalog)
    assert await restarted.payments.find(lost_id[1].decode()) is None
    opened = restarted.payments.get(second.id)
    assert opened is not None and opened.status == "pending"
    assert [p.id for p in restarted.payments.with_status("pending")] == [second.id]
    paid = restarted.payments.get(first.id)
    assert paid is not None and paid.status == "paid"
    assert restarted.subscriptions.has_source(1, f"payment:{first.id}")
    assert restarted.promo.used_by("FULL", 3) and restarted.promo.uses("FULL") == 1
    assert restarted.subscriptions.has_source(3, "promo:FULL")


# Defects found while writing the tests above ---------------------------------------------
async def test_a_failed_archive_append_loses_no_record(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction whose archive append is cut short by a full disk fails (and is
    reported); the next compaction appends after the torn bytes, so its first record
    lands glued to them on one unreadable line and is skipped when read: lost."""
    money = await open_money(tmp_path, catalog)
    old = time.time() - 400 * DAY  # long ended: leaves the live set at compaction
    for user in range(1, 4):
        await money.subscriptions.grant(user, "premium1", 30, f"admin:1:{user}", now=old)
    await money.storage.maintain()
    for user in range(4, 7):
        await money.subscriptions.grant(user, "premium1", 30, f"admin:1:{user}", now=old)
    disk = BrokenDisk(only="/archive/")
    monkeypatch.setattr(atomic, "os", disk)
    disk.arm()
    await money.storage.maintain()  # fails: reported, the records stay live
    assert disk.calls == 2
    live = read_live_records(tmp_path)["subscriptions"]
    assert {row["user_id"] for row in live.values()} == {4, 5, 6}
    await money.storage.maintain()  # room again: they move to the archive
    await money.storage.close()

    archived = archived_subscription_sources(tmp_path)
    live = read_live_records(tmp_path)["subscriptions"]
    held = archived | {
        (row["user_id"], row["plan_id"], period["source"])
        for row in live.values()
        for period in row["periods"]
    }
    lost = [user for user in range(1, 7) if (user, "premium1", f"admin:1:{user}") not in held]
    assert not lost, f"confirmed subscriptions of users {lost} are gone"


async def test_a_concurrent_caller_is_not_shown_an_invoice_that_was_never_written(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double tap: the second `open_invoice` returns the first one's invoice at once,
    before (and even if never) it is on disk."""
    money = await open_money(tmp_path, catalog)
    await money.payments.open_invoice(9, "premium1", "sbp")  # the journal exists
    disk = BrokenDisk()
    monkeypatch.setattr(atomic, "os", disk)
    disk.arm()
    results = await asyncio.gather(
        money.payments.open_invoice(1, "premium1", "sbp"),
        money.payments.open_invoice(1, "premium1", "sbp"),
        return_exceptions=True,
    )
    shown = [result for result in results if isinstance(result, Payment)]
    assert any(isinstance(result, OSError) for result in results)
    await money.storage.close()
    restarted = await open_money(tmp_path, catalog)
    for payment in shown:
        assert await restarted.payments.find(payment.id) is not None, (
            f"invoice {payment.id} was shown to a caller but never written"
        )


async def test_a_concurrent_caller_is_not_told_of_a_credit_that_was_never_written(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins confirm one SBP payment at once: the second `credit` returns "already
    paid" at once, before (and even if never) the first one's credit is on disk."""
    money = await open_money(tmp_path, catalog)
    payment = await money.payments.open_invoice(1, "premium1", "sbp")
    disk = BrokenDisk()
    monkeypatch.setattr(atomic, "os", disk)
    disk.arm()
    results = await asyncio.gather(
        money.payments.credit(payment.id, decided_by=1),
        money.payments.credit(payment.id, decided_by=2),
        return_exceptions=True,
    )
    told_paid = [result for result in results if isinstance(result, CreditResult)]
    assert any(isinstance(result, OSError) for result in results)
    await money.storage.close()
    restarted = await open_money(tmp_path, catalog)
    stored = restarted.payments.get(payment.id)
    assert stored is not None
    for result in told_paid:
        assert stored.status == "paid", (
            f"a caller was told payment {payment.id} is paid "
            f"(newly_paid={result.newly_paid}); it is {stored.status}"
        )


async def test_a_concurrent_caller_is_not_told_of_a_grant_that_was_never_written(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-delivered admin command: the second `grant` of one source returns the
    subscription with that period at once, before (and even if never) it is on disk."""
    money = await open_money(tmp_path, catalog)
    await money.subscriptions.grant(9, "premium1", 30, "admin:1:first")  # the journal exists
    disk = BrokenDisk()
    monkeypatch.setattr(atomic, "os", disk)
    disk.arm()
    results = await asyncio.gather(
        money.subscriptions.grant(1, "premium1", 30, "admin:1:again"),
        money.subscriptions.grant(1, "premium1", 30, "admin:1:again"),
        return_exceptions=True,
    )
    assert any(isinstance(result, OSError) for result in results)
    told = [result for result in results if not isinstance(result, BaseException)]
    await money.storage.close()
    restarted = await open_money(tmp_path, catalog)
    for subscription in told:
        assert subscription.has_source("admin:1:again")
        assert restarted.subscriptions.has_source(1, "admin:1:again"), (
            "a caller was told the period was granted; it was never written"
        )
