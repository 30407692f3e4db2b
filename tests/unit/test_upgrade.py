"""A DATA_DIR written by the previous version (format 1, commit cc0143a) is upgraded once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import services.storage.json_upgrade as json_upgrade
from services.catalog import Catalog
from services.money.promo import PromoError
from services.money.subscriptions import DAY
from services.storage.journal import archive_months, read_archive
from services.storage.json_store import read_live_records
from tests.unit.conftest import ROOT, Money, open_money

MONEY_FILES = ("payments.json", "subscriptions.json", "promo_codes.json")
TABLES = ("payments", "subscriptions", "promo_codes", "promo_activations", "unmatched_money")
Record = dict[str, Any]


# The previous version's files --------------------------------------------------------------
def old_dump(data: Any) -> bytes:
    """How cc0143a wrote every file (services/storage/atomic.py: dump_json)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def old_payment(
    payment_id: str,
    user_id: int,
    plan_id: str,
    method: str,
    status: str,
    created: float,
    updated: float,
    **changes: Any,
) -> Record:
    """dataclasses.asdict of cc0143a's Payment: no `operations` field."""
    stars = method == "stars"
    record: Record = {
        "id": payment_id,
        "user_id": user_id,
        "plan_id": plan_id,
        "method": method,
        "amount": 450.0 if stars else 675.0,
        "currency": "XTR" if stars else "RUB",
        "status": status,
        "created_at": created,
        "updated_at": updated,
        "paid_at": None,
        "received_amount": None,
        "operation_id": None,
        "charge_id": None,
        "decided_by": None,
        "note": None,
        "receipt_sent": False,
    }
    record.update(changes)
    return record


def period(start: float, end: float, source: str) -> Record:
    return {"start": start, "end": end, "source": source}


@dataclasses.dataclass
class OldData:
    now: float
    payments: list[Record]
    subscriptions: list[Record]
    promo_codes: list[Record]
    files: dict[str, bytes]  # relative path -> bytes, every file written

    def payment(self, payment_id: str) -> Record:
        return next(p for p in self.payments if p["id"] == payment_id)


LIVE_PAYMENTS = {"open", "paid-recent", "expired-recent", "refunded-recent"}
ARCHIVED_PAYMENTS = {"paid-old", "paid-older", "expired-old", "refunded-old"}


def write_format_1(data: Path, now: float) -> OldData:
    """A DATA_DIR as cc0143a left it: each money file ONE compact JSON list on one line."""

    def ago(days: float) -> float:
        return now - days * DAY

    payments = [
        old_payment("open", 10, "premium1", "yoomoney", "pending", ago(0.1), ago(0.1)),
        old_payment(
            "paid-recent",
            1,
            "premium1",
            "sbp",
            "paid",
            ago(2.1),
            ago(2),
            paid_at=ago(2),
            decided_by=99,
            receipt_sent=True,
        ),
        old_payment(
            "paid-old",
            2,
            "ai_group",
            "yoomoney",
            "paid",
            ago(130),
            ago(130),
            paid_at=ago(130),
            received_amount=675.0,
            operation_id="op-1",
        ),
        old_payment(
            "paid-older",
            2,
            "premium1",
            "stars",
            "paid",
            ago(400),
            ago(400),
            paid_at=ago(400),
            charge_id="charge-1",
        ),
        old_payment("expired-recent", 11, "premium1", "sbp", "expired", ago(5), ago(4)),
        old_payment("expired-old", 12, "gpt_pro", "yoomoney", "expired", ago(70), ago(69)),
        old_payment(
            "refunded-old", 13, "premium1", "stars", "refunded", ago(100), ago(95), paid_at=ago(100)
        ),
        old_payment(
            "refunded-recent",
            14,
            "premium1",
            "sbp",
            "refunded",
            ago(20),
            ago(1),
            paid_at=ago(20),
            note="refunded by hand",
        ),
    ]
    subscriptions = [
        {  # active, bought by a payment
            "user_id": 1,
            "plan_id": "premium1",
            "periods": [period(ago(2), ago(2) + 30 * DAY, "payment:paid-recent")],
            "reminders_sent": [],
        },
        {  # ended long ago: goes to the archive
            "user_id": 2,
            "plan_id": "ai_group",
            "periods": [period(ago(130), ago(100), "payment:paid-old")],
            "reminders_sent": ["3d:1", "1d:1", "ended:1"],
        },
        {  # active, from a promo code
            "user_id": 3,
            "plan_id": "premium1",
            "periods": [period(ago(1), ago(1) + 7 * DAY, "promo:SPRING")],
            "reminders_sent": [],
        },
        {  # from the same code, ended long ago: its activation must still count
            "user_id": 4,
            "plan_id": "premium1",
            "periods": [period(ago(60), ago(53), "promo:SPRING")],
            "reminders_sent": ["ended:1"],
        },
        {  # ended three days ago: still live (reminders, refunds)
            "user_id": 5,
            "plan_id": "power_group",
            "periods": [period(ago(33), ago(3), "admin:1:100")],
            "reminders_sent": ["3d:2", "1d:2"],
        },
    ]
    promo_codes = [
        {
            "code": "SPRING",
            "plan_id": "premium1",
            "days": 7,
            "max_uses": 3,
            "valid_until": None,
            "created_at": ago(90),
            "created_by": 1,
            "activations": [{"user_id": 4, "at": ago(60)}, {"user_id": 3, "at": ago(1)}],
            "disabled": False,
        },
        {
            "code": "FULL",
            "plan_id": "ai_group",
            "days": 3,
            "max_uses": 1,
            "valid_until": "2099-12-31",
            "created_at": ago(10),
            "created_by": 1,
            "activations": [{"user_id": 6, "at": ago(9)}],
            "disabled": False,
        },
        {
            "code": "UNUSED",
            "plan_id": "gpt_pro",
            "days": 30,
            "max_uses": None,
            "valid_until": None,
            "created_at": ago(3),
            "created_by": 2,
            "activations": [],
            "disabled": True,
        },
    ]
    user = {
        "id": 1,
        "first_name": "Анна",
        "username": "anna",
        "language": "ru",
        "model_key": "gpt-5-nano",
        "created_at": ago(200),
        "blocked": False,
    }
    history = [{"role": "user", "content": "привет"}, {"role": "assistant", "content": "да"}]
    stats = {
        "new_users": 1,
        "active": [1],
        "messages": {"gpt-5-nano": 2},
        "failures": {},
        "prompt_tokens": {"gpt-5-nano": 10},
        "completion_tokens": {"gpt-5-nano": 20},
        "free_limit_refusals": 0,
        "user_messages": {"1": 2},
    }
    files = {
        "payments.json": old_dump(payments),
        "subscriptions.json": old_dump(subscriptions),
        "promo_codes.json": old_dump(promo_codes),
        "users/1.json": old_dump(user),
        "history/1.json": old_dump(history),
        "stats/2026-01-01.json": old_dump(stats),
    }
    for name, payload in files.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(payload)
    for name in MONEY_FILES:
        assert files[name].count(b"\n") == 0 and files[name].startswith(b"[")
    return OldData(now, payments, subscriptions, promo_codes, files)


# Looking at the result ---------------------------------------------------------------------
def as_old(payment: Any) -> Record:
    fields = dataclasses.asdict(payment)
    assert fields.pop("operations") == ()
    assert fields.pop("recurring_id") is None  # newer than format 1
    assert fields.pop("receipts") == 0  # newer than format 1
    assert fields.pop("number") is None  # newer than format 1
    return fields


def archived(data: Path, table: str) -> dict[str, Record]:
    """The latest line per key of a table's archive."""
    key: dict[str, Callable[[Record], object]] = {
        "payments": lambda r: r["id"],
        "subscriptions": lambda r: (r["user_id"], r["plan_id"]),
    }
    found: dict[str, Record] = {}
    for month in archive_months(data / "archive" / table):
        for raw in read_archive(month):
            found[str(key[table](raw))] = raw
    return found


def subscription_json(subscription: Any) -> Record:
    return {
        "user_id": subscription.user_id,
        "plan_id": subscription.plan_id,
        "periods": [dataclasses.asdict(p) for p in subscription.periods],
        "reminders_sent": list(subscription.reminders_sent),
    }


async def state_of(money: Money, data: Path) -> dict[str, Any]:
    """Everything the services and the files say, to compare two opens."""
    return {
        "live payments": {p.id: dataclasses.asdict(p) for p in money.payments.live()},
        "history": sorted(
            [dataclasses.asdict(p) async for p in money.storage.iter_payments()],
            key=lambda p: p["id"],
        ),
        "subscriptions": sorted(
            (subscription_json(s) for s in money.subscriptions.subscriptions()),
            key=lambda s: (s["user_id"], s["plan_id"]),
        ),
        "codes": [dataclasses.asdict(p) for p in money.promo.codes()],
        "uses": {p.code: money.promo.uses(p.code) for p in money.promo.codes()},
        "records": read_live_records(data),
        "archive": {table: archived(data, table) for table in ("payments", "subscriptions")},
    }


def upgrade_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "Upgrading money files" in r.getMessage()]


def backups(data: Path) -> list[Path]:
    return sorted(data.glob("backup-format1-*"))


def holds_the_originals(folder: Path, old: OldData) -> bool:
    return sorted(p.name for p in folder.iterdir()) == sorted(MONEY_FILES) and all(
        (folder / name).read_bytes() == old.files[name] for name in MONEY_FILES
    )


async def check_everything_is_there(money: Money, data: Path, old: OldData) -> None:
    """Every record of the old files: live ones in memory, the rest from the history."""
    for payment_id in LIVE_PAYMENTS:
        payment = money.payments.get(payment_id)
        assert payment is not None, f"{payment_id} should be live"
        assert as_old(payment) == old.payment(payment_id)
    for payment_id in ARCHIVED_PAYMENTS:
        assert money.payments.get(payment_id) is None, f"{payment_id} should be archived"
        payment = await money.payments.find(payment_id)
        assert payment is not None, f"{payment_id} is gone"
        assert as_old(payment) == old.payment(payment_id)
    history = [payment async for payment in money.storage.iter_payments()]
    counts = Counter(payment.id for payment in history)
    assert counts == Counter({p["id"]: 1 for p in old.payments}), counts
    assert sorted((as_old(p) for p in history), key=lambda p: p["id"]) == sorted(
        old.payments, key=lambda p: p["id"]
    )

    live = {
        (s.user_id, s.plan_id): subscription_json(s) for s in money.subscriptions.subscriptions()
    }
    in_archive = archived(data, "subscriptions")
    for subscription in old.subscriptions:
        key = (subscription["user_id"], subscription["plan_id"])
        long_ended = subscription["user_id"] in (2, 4)
        if long_ended:
            assert key not in live and in_archive[str(key)] == subscription
        else:
            assert live[key] == subscription

    codes = {promo.code: dataclasses.asdict(promo) for promo in money.promo.codes()}
    for raw in old.promo_codes:
        expected = {k: v for k, v in raw.items() if k != "activations"}
        assert codes[raw["code"]] == expected
        assert money.promo.uses(raw["code"]) == len(raw["activations"])
        for item in raw["activations"]:
            assert money.promo.used_by(raw["code"], item["user_id"])
    activations = read_live_records(data)["promo_activations"]
    assert {(r["code"], r["user_id"], r["at"]) for r in activations.values()} == {
        (raw["code"], item["user_id"], item["at"])
        for raw in old.promo_codes
        for item in raw["activations"]
    }


async def check_promo_limits(money: Money) -> None:
    """Once per user and max_uses hold as before the upgrade."""

    async def refusal(user_id: int, code: str) -> str | None:
        try:
            await money.promo.activate(user_id, code)
        except PromoError as error:
            return error.reason
        return None

    assert await refusal(3, "SPRING") == "already_used"
    assert await refusal(4, "SPRING") == "already_used"  # its period is in the archive
    assert await refusal(6, "FULL") == "already_used"
    assert await refusal(9, "FULL") == "used_up"
    assert await refusal(7, "SPRING") is None  # the third of three uses
    assert await refusal(8, "SPRING") == "used_up"


# The upgrade ----------------------------------------------------------------------------------
async def test_a_data_dir_written_by_the_previous_version_is_upgraded_once_with_a_backup(
    tmp_path: Path, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    old = write_format_1(tmp_path, time.time())
    caplog.set_level(logging.INFO)

    money = await open_money(tmp_path, catalog)
    assert len(upgrade_logs(caplog)) == 1
    await check_everything_is_there(money, tmp_path, old)
    [backup] = backups(tmp_path)
    assert holds_the_originals(backup, old)
    for table in TABLES:
        snapshot = (tmp_path / f"{table}.json").read_bytes()
        assert snapshot.startswith(b'{"format":2'), table
        assert json.loads(snapshot)["table"] == table
    assert not list(tmp_path.glob("*.bak"))
    for name in ("users/1.json", "history/1.json", "stats/2026-01-01.json"):
        assert (tmp_path / name).read_bytes() == old.files[name], name
    user = await money.storage.get_user(1)
    assert user is not None and user.first_name == "Анна" and user.model_key == "gpt-5-nano"
    adopted = await money.storage.load_conversations(1)  # the old memory: conversation "1"
    assert adopted is not None and adopted.current == "1" and adopted.items[0].title == "привет"
    assert [t.content for t in await money.storage.load_history(1, "1")] == ["привет", "да"]
    assert not (tmp_path / "history" / "1.json").exists()
    first = await state_of(money, tmp_path)
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    await money.storage.close()

    caplog.clear()
    again = await open_money(tmp_path, catalog)
    assert upgrade_logs(caplog) == []
    assert backups(tmp_path) == [backup] and holds_the_originals(backup, old)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files
    assert await state_of(again, tmp_path) == first
    await check_everything_is_there(again, tmp_path, old)
    await check_promo_limits(again)
    # Archived payments come back to life: a late refund and a late rejection.
    await again.payments.begin_refund("paid-old")
    await again.payments.refund("paid-old", decided_by=1)
    await again.payments.reject("expired-old", reason="late", decided_by=1)
    await check_history_once(again, {"paid-old": "refunded", "expired-old": "rejected"}, old)
    await again.storage.close()

    third = await open_money(tmp_path, catalog)  # what was done after the upgrade holds
    assert third.promo.uses("SPRING") == 3 and third.promo.used_by("SPRING", 7)
    await check_history_once(third, {"paid-old": "refunded", "expired-old": "rejected"}, old)
    assert upgrade_logs(caplog) == [] and backups(tmp_path) == [backup]
    await third.storage.maintain()  # they go back to the archive: still once each
    await check_history_once(third, {"paid-old": "refunded", "expired-old": "rejected"}, old)
    await third.storage.close()


async def check_history_once(money: Money, changed: dict[str, str], old: OldData) -> None:
    """`iter_payments` yields every payment exactly once, in its latest state."""
    history = [payment async for payment in money.storage.iter_payments()]
    assert Counter(p.id for p in history) == Counter({p["id"]: 1 for p in old.payments})
    for payment in history:
        assert payment.status == changed.get(payment.id, old.payment(payment.id)["status"])
        found = await money.payments.find(payment.id)
        assert found is not None and found.status == payment.status
    # From a moment on: archived months before it are skipped, nothing after it is missed.
    for cutoff in sorted({p.created_at for p in history}):
        since = {p.id async for p in money.storage.iter_payments(cutoff)}
        assert since == {p.id for p in history if p.created_at >= cutoff}


# A kill -9 in the middle of the upgrade --------------------------------------------------------
KILL_SCRIPT = r"""
import asyncio, json, os, signal, sys
args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
from pathlib import Path

import services.storage.json_money as json_money
import services.storage.json_store as json_store
from services.storage.base import DAY, Retention

real_write_snapshot = json_money.write_snapshot


def write_snapshot(path, table, next_journal, lines):
    if table == args["table"]:  # the power goes out before this snapshot is written
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write_snapshot(path, table, next_journal, lines)


json_money.write_snapshot = write_snapshot


async def main():
    storage = json_store.JsonStorage(Path(args["data"]), Retention(open_payment_seconds=8 * DAY))
    await storage.open()


asyncio.run(main())
"""


def kill_during_the_upgrade(data: Path, table: str) -> None:
    args = {"root": str(ROOT), "data": str(data), "table": table}
    finished = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, json.dumps(args)], capture_output=True, timeout=60
    )
    assert finished.returncode == -signal.SIGKILL, finished.stderr.decode()


def restart_at(monkeypatch: pytest.MonkeyPatch, moment: dt.datetime) -> None:
    """The next upgrade stamps its backup folder with `moment`."""

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Clock:
            return cls.fromtimestamp(moment.timestamp(), tz)

    monkeypatch.setattr(json_upgrade, "dt", SimpleNamespace(datetime=Clock))


@pytest.mark.parametrize("table", TABLES)
async def test_a_kill_during_the_upgrade_loses_nothing(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    """Killed just before the upgrade writes `table`'s snapshot (the ones before it are
    format 2 already); the bot is restarted a minute later."""
    old = write_format_1(tmp_path, time.time())
    kill_during_the_upgrade(tmp_path, table)
    restart_at(monkeypatch, dt.datetime.now() + dt.timedelta(minutes=1))
    money = await open_money(tmp_path, catalog)
    await check_everything_is_there(money, tmp_path, old)
    assert any(holds_the_originals(folder, old) for folder in backups(tmp_path))
    await check_promo_limits(money)
    await money.storage.close()
    for name in TABLES:  # unmatched_money.json may come with the next compaction
        path = tmp_path / f"{name}.json"
        assert not path.exists() or path.read_bytes().startswith(b'{"format":2'), name


async def test_a_restart_in_the_same_second_keeps_the_original_backup(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the payments snapshot was upgraded and restarted within the same
    second: the second upgrade reuses the backup folder's name and copies the new
    format-2 payments.json over the original one."""
    old = write_format_1(tmp_path, time.time())
    kill_during_the_upgrade(tmp_path, "subscriptions")
    [folder] = backups(tmp_path)
    assert holds_the_originals(folder, old)
    stamp = dt.datetime.strptime(folder.name.removeprefix("backup-format1-"), "%Y%m%d-%H%M%S")
    restart_at(monkeypatch, stamp)
    money = await open_money(tmp_path, catalog)
    await money.storage.close()
    originals = [f.name for f in backups(tmp_path) if holds_the_originals(f, old)]
    assert originals, (
        f"no backup holds the original files any more; {folder.name}/payments.json "
        f"now starts with {(folder / 'payments.json').read_bytes()[:12]!r}"
    )
