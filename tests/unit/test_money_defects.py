"""Money that must not be dropped or doubled: one test per defect found in the old layer."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import tomllib
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import edge.exports as exports
import services.shared.throttle as throttle_module
import services.storage.json_store as json_store
from edge.exports import export_payments
from services.catalog import Catalog, CatalogError, check_plans_in_use
from services.models import ChatTurn, UnmatchedMoney
from services.money.payments import MoneyArrival, PaymentError, PaymentRefusal, PaymentService
from services.money.promo import PromoError
from services.money.yoomoney import Operation, YooMoneyChecker
from services.storage.base import DAY, Transaction
from services.storage.journal import journal_numbers, journal_path
from tests.unit.conftest import ROOT, Money, open_money
from tests.unit.test_payments import RecordingAlerts


def journal_lines(data_dir: Path) -> int:
    folder = data_dir / "journal"
    return sum(journal_path(folder, n).read_bytes().count(b"\n") for n in journal_numbers(folder))


class FakeClient:
    """The YooMoney client's one method, answering a fixed history."""

    def __init__(self, operations: list[Operation]) -> None:
        self.operations = operations

    async def incoming(self, **_: Any) -> list[Operation]:
        return list(self.operations)

    async def pages(self, **_: Any) -> AsyncIterator[list[Operation]]:
        yield list(self.operations)


def checker_for(money: Money, operations: list[Operation] = ()) -> YooMoneyChecker:  # type: ignore[assignment]
    return YooMoneyChecker(
        FakeClient(list(operations)),  # type: ignore[arg-type]
        money.payments,
        RecordingAlerts(),
        accepted_shortfall_percent=3.5,
        pending_ttl=86400,
        late_window=7 * 86400,
    )


def recorded(payments: PaymentService) -> list[UnmatchedMoney]:
    return payments.unmatched()


# One effect per intent -------------------------------------------------------------
async def test_pressing_pay_again_shows_the_same_invoice(tmp_path: Path, catalog: Catalog) -> None:
    """Defect: every press of a payment button created a new pending payment, forever."""
    money = await open_money(tmp_path, catalog)
    first = await money.payments.open_invoice(1, "premium1", "yoomoney")
    again = [await money.payments.open_invoice(1, "premium1", "yoomoney") for _ in range(11)]
    at_once = await asyncio.gather(
        *(money.payments.open_invoice(1, "premium1", "yoomoney") for _ in range(5))
    )
    assert {p.id for p in [*again, *at_once]} == {first.id}
    assert len(money.payments.with_status("pending")) == 1
    # Another method or plan is another intent; an invoice near its expiry is replaced.
    assert (await money.payments.open_invoice(1, "premium1", "stars")).id != first.id
    assert (await money.payments.open_invoice(1, "ai_group", "yoomoney")).id != first.id
    late = await money.payments.open_invoice(
        1, "premium1", "yoomoney", now=first.created_at + 86000
    )
    assert late.id != first.id
    restarted = await open_money(tmp_path, catalog)
    assert (await restarted.payments.open_invoice(1, "ai_group", "yoomoney")).id in {
        p.id for p in restarted.payments.with_status("pending")
    }


# Writes that cost O(1) ------------------------------------------------------------
async def test_a_new_invoice_appends_a_line_and_rewrites_nothing(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Defect: every save rewrote the whole payments.json (0.3 s per press at 10k payments)."""
    money = await open_money(tmp_path, catalog)
    await asyncio.gather(
        *(money.payments.open_invoice(user, "premium1", "sbp") for user in range(3000))
    )
    await money.storage.maintain()
    snapshot = tmp_path / "payments.json"
    before = snapshot.stat()
    journal_before = sum(p.stat().st_size for p in (tmp_path / "journal").glob("*.jsonl"))
    await money.payments.open_invoice(99_999, "premium1", "sbp")
    journal_after = sum(p.stat().st_size for p in (tmp_path / "journal").glob("*.jsonl"))
    assert snapshot.stat().st_mtime_ns == before.st_mtime_ns
    assert snapshot.stat().st_size == before.st_size > 500_000
    assert 0 < journal_after - journal_before < 1_000


async def test_expiring_many_invoices_is_one_write(tmp_path: Path, catalog: Catalog) -> None:
    """Defect: expiring 1,500 stale invoices rewrote the file 1,500 times."""
    money = await open_money(tmp_path, catalog)
    created = await asyncio.gather(
        *(money.payments.open_invoice(user, "premium1", "yoomoney") for user in range(1500))
    )
    lines = journal_lines(tmp_path)
    expired = await money.payments.expire_stale(3600, now=max(p.created_at for p in created) + 3601)
    assert len(expired) == 1500
    assert journal_lines(tmp_path) == lines + 1


# Every kopeck accounted for -----------------------------------------------------------
async def test_a_second_transfer_to_a_paid_invoice_is_recorded_once(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Defect: money for an invoice already paid was dropped silently."""
    money = await open_money(tmp_path, catalog)
    told: list[UnmatchedMoney] = []

    async def listener(item: UnmatchedMoney) -> None:
        told.append(item)

    money.payments.unmatched_listeners.append(listener)
    payment = await money.payments.open_invoice(1, "premium1", "yoomoney")
    checker = checker_for(money)
    assert await checker.apply(Operation("op-1", "success", "in", 660.0, payment.id))
    for _ in range(3):  # the poller sees the history again and again
        assert await checker.apply(Operation("op-2", "success", "in", 675.0, payment.id)) is None
    (item,) = recorded(money.payments)
    assert (item.id, item.amount, item.reason, item.payment_id, item.user_id) == (
        "yoomoney:op-2",
        675.0,
        "paid",
        payment.id,
        1,
    )
    assert len(told) == 1
    restarted = await open_money(tmp_path, catalog)
    again = checker_for(restarted)
    assert await again.apply(Operation("op-2", "success", "in", 675.0, payment.id)) is None
    assert await again.apply(Operation("op-1", "success", "in", 660.0, payment.id)) is None
    assert [i.id for i in recorded(restarted.payments)] == ["yoomoney:op-2"]
    assert len(restarted.subscriptions.subscriptions()[0].periods) == 1


async def test_money_for_rejected_refunded_and_unknown_invoices_is_recorded(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    rejected = await money.payments.open_invoice(1, "premium1", "yoomoney")
    await money.payments.reject(rejected.id, reason="test", decided_by=9)
    refunded = await money.payments.open_invoice(2, "premium1", "stars")
    await money.payments.credit(refunded.id, charge_id="ch-1")
    await money.payments.refund(refunded.id, decided_by=9)
    checker = checker_for(money)
    await checker.apply(Operation("op-r", "success", "in", 675.0, rejected.id))
    await checker.apply(Operation("op-x", "success", "in", 100.0, "not-ours"))
    await checker.apply(Operation("op-y", "success", "in", 50.0, ""))
    await money.payments.accept(MoneyArrival("stars", "ch-2", 390.0, "XTR", refunded.id, user_id=2))
    reasons = {item.id: item.reason for item in recorded(money.payments)}
    assert reasons == {
        "yoomoney:op-r": "rejected",
        "yoomoney:op-x": "unknown",
        "yoomoney:op-y": "unknown",
        "stars:ch-2": "refunded",
    }


async def test_a_second_stars_payment_keeps_its_charge_id(tmp_path: Path, catalog: Catalog) -> None:
    """Defect: a second successful_payment for a paid invoice lost its charge id, so those
    Stars could never be refunded."""
    money = await open_money(tmp_path, catalog)
    payment = await money.payments.open_invoice(3, "power_group", "stars")
    arrival = MoneyArrival("stars", "charge-A", payment.amount, "XTR", payment.id, user_id=3)
    first = await money.payments.accept(arrival)
    assert first.credit is not None and first.credit.newly_paid
    redelivered = await money.payments.accept(arrival)  # the same update again
    assert redelivered.seen_before and redelivered.unmatched is None
    second = await money.payments.accept(
        MoneyArrival("stars", "charge-B", payment.amount, "XTR", payment.id, user_id=3)
    )
    assert second.unmatched is not None
    assert (second.unmatched.id, second.unmatched.user_id, second.unmatched.reason) == (
        "stars:charge-B",
        3,
        "paid",
    )
    assert money.payments.get(payment.id).charge_id == "charge-A"  # type: ignore[union-attr]


async def test_partial_transfers_to_one_label_add_up(tmp_path: Path, catalog: Catalog) -> None:
    """Defect: two partial transfers to one label were never added up."""
    money = await open_money(tmp_path, catalog)
    payment = await money.payments.open_invoice(1, "premium1", "yoomoney")
    checker = checker_for(money)
    assert await checker.apply(Operation("part-1", "success", "in", 400.0, payment.id)) is None
    assert await checker.apply(Operation("part-1", "success", "in", 400.0, payment.id)) is None
    assert money.payments.get(payment.id).status == "pending"  # type: ignore[union-attr]
    credit = await checker.apply(Operation("part-2", "success", "in", 255.0, payment.id))
    assert credit is not None and credit.newly_paid
    assert credit.payment.received_amount == 655.0
    assert credit.payment.operations == ("part-1", "part-2")
    assert recorded(money.payments) == []


async def test_one_failing_operation_does_not_stop_the_others(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: a credit that raised (a plan removed from the catalog) aborted the whole check,
    leaving every older operation uncredited."""
    money = await open_money(tmp_path, catalog)
    broken = await money.payments.open_invoice(1, "premium1", "yoomoney")
    fine = await money.payments.open_invoice(2, "ai_group", "yoomoney")
    real_commit = money.storage.commit

    async def commit(transaction: Transaction) -> None:
        if any(p.id == broken.id and p.status == "paid" for p in transaction.payments):
            raise RuntimeError("boom")  # the credit of this one fails
        await real_commit(transaction)

    monkeypatch.setattr(money.storage, "commit", commit)
    checker = checker_for(
        money,
        [  # newest first, as YooMoney answers
            Operation("op-broken", "success", "in", 675.0, broken.id),
            Operation("op-fine", "success", "in", 420.0, fine.id),
        ],
    )
    assert await checker.check_all() == 1
    assert money.payments.get(fine.id).status == "paid"  # type: ignore[union-attr]
    (item,) = recorded(money.payments)
    assert item.id == "yoomoney:op-broken" and item.reason == "error" and "boom" in item.detail


def catalog_without(plan_id: str) -> Catalog:
    raw = tomllib.loads((ROOT / "catalog.toml").read_text(encoding="utf-8"))
    raw["plans"] = [plan for plan in raw["plans"] if plan["id"] != plan_id]
    return Catalog.model_validate(raw)


async def test_money_for_a_plan_gone_from_the_catalog_is_recorded(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    payment = await money.payments.open_invoice(1, "premium1", "yoomoney")
    other = await money.payments.open_invoice(2, "ai_group", "yoomoney")
    shrunk = await open_money(tmp_path, catalog_without("premium1"))
    checker = checker_for(
        shrunk,
        [
            Operation("op-a", "success", "in", 675.0, payment.id),
            Operation("op-b", "success", "in", 420.0, other.id),
        ],
    )
    assert await checker.check_all() == 1
    (item,) = recorded(shrunk.payments)
    assert item.reason == "plan_missing" and item.payment_id == payment.id


def test_the_catalog_may_retire_a_plan_in_use_but_not_drop_it(catalog: Catalog) -> None:
    in_use = {"premium1": ["1 open invoices", "3 active subscriptions"]}
    check_plans_in_use(catalog, in_use)
    with pytest.raises(CatalogError) as error:
        check_plans_in_use(catalog_without("premium1"), in_use)
    assert "'premium1'" in str(error.value) and "retired = true" in str(error.value)
    raw = tomllib.loads((ROOT / "catalog.toml").read_text(encoding="utf-8"))
    for plan in raw["plans"]:
        plan["retired"] = plan["id"] == "premium1"
    retired = Catalog.model_validate(raw)
    check_plans_in_use(retired, in_use)
    assert "premium1" not in {plan.id for plan in retired.on_sale}


# Decisions that happen once -----------------------------------------------------------
async def test_an_sbp_invoice_that_expired_can_still_be_confirmed(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Defect: a receipt sent after the invoice expired was refused, and so was /confirm."""
    money = await open_money(tmp_path, catalog)
    payment = await money.payments.open_invoice(5, "gpt_pro", "sbp")
    await money.payments.expire_stale(3600, now=payment.created_at + 3601)
    marked = await money.payments.take_receipt(payment.id, attached=True)
    assert marked is not None and marked.status == "expired" and marked.receipt_sent
    credit = await money.payments.credit(payment.id, decided_by=1)
    assert credit.newly_paid and credit.payment.status == "paid"


async def test_a_refund_is_claimed_once(tmp_path: Path, catalog: Catalog) -> None:
    money = await open_money(tmp_path, catalog)
    payment = await money.payments.open_invoice(3, "power_group", "stars")
    await money.payments.credit(payment.id, charge_id="ch")
    await money.payments.begin_refund(payment.id)
    with pytest.raises(PaymentError) as busy:
        await money.payments.begin_refund(payment.id)
    assert busy.value.reason is PaymentRefusal.IN_PROGRESS
    await money.payments.refund(payment.id, decided_by=1)
    money.payments.end_refund(payment.id)
    with pytest.raises(PaymentError) as done:
        await money.payments.begin_refund(payment.id)
    assert (done.value.reason, done.value.status) == (PaymentRefusal.NOT_PAID, "refunded")


# Rounds and exports that stay cheap ------------------------------------------------------
async def test_a_reminder_round_is_one_write(tmp_path: Path, catalog: Catalog) -> None:
    money = await open_money(tmp_path, catalog)
    now = 1_800_000_000.0
    for user in range(300):
        await money.subscriptions.grant(user, "premium1", 2, f"admin:1:{user}", now=now)
    lines = journal_lines(tmp_path)
    due = await money.subscriptions.take_due_reminders(now=now + DAY)
    assert len(due) == 300 and journal_lines(tmp_path) == lines + 1
    assert await money.subscriptions.take_due_reminders(now=now + DAY + 60) == []


async def test_an_export_too_big_for_one_upload_is_split_into_zipped_parts(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    money = await open_money(tmp_path, catalog)
    created = await asyncio.gather(
        *(money.payments.open_invoice(user, "premium1", "sbp") for user in range(2000))
    )
    await money.storage.maintain()
    out = tmp_path / "out"
    out.mkdir()
    zone = ZoneInfo("Europe/Moscow")
    (single,) = await export_payments(money.payments.history(), zone, out, "all")
    assert single.suffix == ".csv"
    monkeypatch.setattr(exports, "EXPORT_PART_BYTES", 50_000)
    parts = await export_payments(money.payments.history(), zone, out, "split")
    assert len(parts) > 3 and all(p.suffix == ".zip" and p.stat().st_size < 50_000 for p in parts)
    ids: list[str] = []
    for part in parts:
        with zipfile.ZipFile(part) as archive:
            (name,) = archive.namelist()
            text = archive.read(name).decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text), delimiter=";"))
        assert rows[0][0] == "id"
        ids += [row[0] for row in rows[1:]]
    assert sorted(ids) == sorted(p.id for p in created)


# Bounded memory ------------------------------------------------------------------------
async def test_per_user_tables_are_bounded(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle_module, "TRACKED", 100)
    monkeypatch.setattr(json_store, "HISTORY_CACHE_CHARS", 10_000)
    money = await open_money(tmp_path, catalog)
    for user in range(1000):
        with pytest.raises(PromoError):
            await money.promo.activate(user, "NOPE")
    guesses = money.promo.guesses
    assert isinstance(guesses, throttle_module.MemoryWindow)
    assert len(guesses._events) <= 100
    storage = money.storage
    for user in range(200):
        await storage.save_history(user, "1", [ChatTurn("user", "x" * 500)])
    assert storage._conversations._history.currsize <= 10_000
    assert await storage.load_history(3, "1") == [ChatTurn("user", "x" * 500)]  # from its file


async def test_closed_payments_leave_memory_after_maintenance(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    payment = await money.payments.open_invoice(1, "premium1", "sbp")
    await money.payments.reject(payment.id, reason="x", decided_by=1)
    later = time.time() + 9 * DAY
    await money.storage.maintain()
    money.payments.prune(later)
    assert money.payments.get(payment.id) is None
    found = await money.payments.find(payment.id)
    assert found is not None and found.status == "rejected"
