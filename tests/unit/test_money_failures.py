"""Money that survives a failed write: a credit that cannot be written is recorded and
retried (the next check, the Stars ledger, a restart, or an admin by hand), settled
money stays settled, and a refund takes back what the payment gave."""

from __future__ import annotations

import datetime as dt
import errno
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.catalog import Catalog
from services.models import Payment, UnmatchedMoney
from services.money.payments import MoneyArrival, PaymentService
from services.money.referrals import START_PREFIX
from services.money.stars_ledger import PAGE, LedgerPayment, StarsLedger
from services.money.yoomoney import Operation, YooMoneyClient
from services.storage.base import DAY, Transaction
from services.storage.json_store import read_live_records
from tests.stubs.yoomoney_server import FakeYooMoney
from tests.unit.conftest import Money, open_money
from tests.unit.test_money_defects import FakeClient, checker_for
from tests.unit.test_referrals import FRIEND, INVITER, start

USER = 700


class Disk:
    """A storage whose next `fail` commits raise ENOSPC, as a full disk does."""

    def __init__(self, money: Money) -> None:
        self.fail = 0
        self.refused: list[Transaction] = []
        real = money.storage.commit

        async def commit(transaction: Transaction) -> None:
            if self.fail:
                self.fail -= 1
                self.refused.append(transaction)
                raise OSError(errno.ENOSPC, "No space left on device")
            await real(transaction)

        money.storage.commit = commit  # type: ignore[method-assign]


def stars(payment: Payment, charge: str = "charge-1") -> MoneyArrival:
    return MoneyArrival(
        method="stars",
        external_id=charge,
        amount=payment.amount,
        currency="XTR",
        reference=payment.id,
        user_id=payment.user_id,
    )


def status(money: Money, payment: Payment) -> str | None:
    current = money.payments.get(payment.id)
    return current.status if current is not None else None


def on_disk(data_dir: Path, table: str) -> dict[str, dict[str, Any]]:
    return read_live_records(data_dir)[table]


def open_records(payments: PaymentService) -> list[UnmatchedMoney]:
    return payments.unmatched()


# A Stars payment whose credit cannot be written ------------------------------------------
async def test_a_stars_credit_that_fails_is_recorded_and_credited_when_the_money_comes_again(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    disk = Disk(money)
    invoice = await money.payments.open_invoice(USER, "premium1", "stars")
    disk.fail = 1
    failed = await money.payments.accept_or_record(stars(invoice))
    assert failed.error is not None and "No space left" in failed.error
    assert failed.credit is None
    (record,) = open_records(money.payments)
    assert (record.id, record.reason, record.user_id, record.payment_id, record.amount) == (
        "stars:charge-1",
        "error",
        USER,
        invoice.id,
        invoice.amount,
    )
    assert status(money, invoice) == "pending"  # memory follows the disk
    assert not money.subscriptions.active_plans(USER)

    again = await money.payments.accept_or_record(stars(invoice))  # the disk has room again
    assert again.credit is not None and again.credit.newly_paid
    assert not open_records(money.payments)  # the record is settled by the credit
    assert await money.payments.accept_or_record(stars(invoice)) == type(again)(seen_before=True)
    await money.storage.close()

    restarted = await open_money(tmp_path, catalog)
    assert status(restarted, invoice) == "paid"
    assert len(restarted.subscriptions.active_plans(USER)) == 1
    (settled,) = on_disk(tmp_path, "unmatched_money").values()
    assert settled["resolved_at"] is not None and settled["resolved_by"] == 0
    (notice,) = restarted.payments.outbox.pending("tell_user")  # the user is told once
    assert (notice.user_id, notice.text) == (USER, "pay_success")


async def test_when_neither_credit_nor_record_can_be_written_the_admins_learn_what_arrived(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    disk = Disk(money)
    invoice = await money.payments.open_invoice(USER, "premium1", "stars")
    told: list[tuple[MoneyArrival, Payment | None, str]] = []

    async def listener(arrival: MoneyArrival, payment: Payment | None, error: str) -> None:
        told.append((arrival, payment, error))

    money.payments.failure_listeners.append(listener)
    disk.fail = 2  # the credit, then its record
    outcome = await money.payments.accept_or_record(stars(invoice))
    assert outcome.error is not None and money.payments.arrival_failed.is_set()
    ((arrival, payment, error),) = told
    assert (arrival.external_id, arrival.user_id, payment.id if payment else None) == (
        "charge-1",
        USER,
        invoice.id,
    )
    assert "No space left" in error
    await money.storage.close()

    # A restart (the update is gone): Telegram's ledger still lists the payment.
    restarted = await open_money(tmp_path, catalog)
    assert status(restarted, invoice) == "pending"
    ledger = StarsLedger(restarted.payments, restarted.storage)
    entry = LedgerPayment("charge-1", USER, int(invoice.amount), invoice.id, time.time())
    assert await ledger.reconcile(pages([entry])) == 1
    assert status(restarted, invoice) == "paid"
    assert await ledger.reconcile(pages([entry])) == 0  # read once: the cursor moved on


def pages(entries: list[LedgerPayment | None], calls: list[int] | None = None):
    async def fetch(offset: int, limit: int) -> list[LedgerPayment | None]:
        if calls is not None:
            calls.append(offset)
        return entries[offset : offset + limit]

    return fetch


async def test_the_ledger_cursor_stops_at_a_payment_whose_credit_fails(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    disk = Disk(money)
    first = await money.payments.open_invoice(USER, "premium1", "stars")
    second = await money.payments.open_invoice(USER + 1, "premium1", "stars")
    now = time.time()
    old = LedgerPayment("charge-old", USER, 5, "gone-long-ago", now - 30 * DAY)
    entries: list[LedgerPayment | None] = [old, None] * PAGE  # two pages of old or refunds
    entries += [
        LedgerPayment("charge-a", USER, int(first.amount), first.id, now),
        LedgerPayment("charge-b", USER + 1, int(second.amount), second.id, now),
    ]
    ledger = StarsLedger(money.payments, money.storage)
    calls: list[int] = []
    disk.fail = 2  # charge-a: neither credited nor recorded
    assert await ledger.reconcile(pages(entries, calls)) == 0
    assert calls == [0, PAGE, 2 * PAGE]
    assert status(money, first) == "pending"
    assert status(money, second) == "pending"  # not reached yet
    assert not on_disk(tmp_path, "unmatched_money")  # nothing made up from old entries

    calls.clear()
    assert await ledger.reconcile(pages(entries, calls)) == 2
    assert calls == [2 * PAGE]  # from where it stopped
    assert status(money, first) == "paid"
    assert status(money, second) == "paid"


# A YooMoney operation whose credit cannot be written ------------------------------------
async def test_a_yoomoney_operation_whose_credit_failed_is_credited_by_the_next_check(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    disk = Disk(money)
    invoice = await money.payments.open_invoice(USER, "premium1", "yoomoney")
    operation = Operation("op-1", "success", "in", 675.0, invoice.id)
    checker = checker_for(money, [operation])
    disk.fail = 1
    assert await checker.check_all() == 0
    (record,) = open_records(money.payments)
    assert (record.reason, record.payment_id) == ("error", invoice.id)
    await money.storage.close()

    restarted = await open_money(tmp_path, catalog)  # also after a restart
    assert await checker_for(restarted, [operation]).check_all() == 1
    assert status(restarted, invoice) == "paid"
    assert not open_records(restarted.payments)


async def test_confirm_credits_by_hand_an_operation_whose_credit_failed(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    disk = Disk(money)
    invoice = await money.payments.open_invoice(USER, "premium1", "yoomoney")
    checker = checker_for(money, [Operation("op-1", "success", "in", 650.0, invoice.id)])
    disk.fail = 1
    await checker.check_all()
    result = await money.payments.confirm(invoice.id, decided_by=9)
    assert result.newly_paid
    paid = money.payments.get(invoice.id)
    assert paid is not None
    assert (paid.status, paid.received_amount, paid.operations) == ("paid", 650.0, ("op-1",))
    assert not open_records(money.payments)
    checker._client = FakeClient([Operation("op-1", "success", "in", 650.0, invoice.id)])  # type: ignore[assignment]
    assert await checker.check_all() == 0  # the same operation again: nothing more
    assert len(money.subscriptions.active_plans(USER)) == 1


# Settled money stays settled --------------------------------------------------------------
async def test_settled_money_stays_settled_while_a_poll_can_see_it_again(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    told: list[UnmatchedMoney] = []

    async def alert(item: UnmatchedMoney) -> None:
        told.append(item)

    money.payments.unmatched_listeners.append(alert)
    stray = Operation("op-stray", "success", "in", 300.0, "no-such-label")
    checker = checker_for(money, [stray])
    await money.payments.open_invoice(USER, "premium1", "yoomoney")  # keeps the poll going
    await checker.check_all()
    (record,) = open_records(money.payments)
    await money.payments.resolve_unmatched(record.id, decided_by=9)
    # Days later the poller still reads that part of the wallet's history (24 h + 7 days).
    for days in (4, 8):
        money.payments.prune(time.time() + days * DAY)
        await checker.check_all()
    assert not open_records(money.payments)
    assert len(told) == 1  # no second alert
    (on_file,) = on_disk(tmp_path, "unmatched_money").values()
    assert on_file["resolved_at"] is not None


# A refund takes back what the payment gave -------------------------------------------------
async def test_a_refund_takes_back_the_referral_bonus_the_payment_earned(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await start(tmp_path, catalog)
    bot.money.payments.refund_rules.append(bot.referrals.stage_refund)
    code = await bot.referrals.code_for(INVITER)
    assert await bot.referrals.arrive(FRIEND, START_PREFIX + code, first_visit=True)
    payment = await bot.paid(FRIEND)
    assert bot.money.subscriptions.active_plans(INVITER)  # the bonus days
    assert bot.referrals.counts(INVITER) == (1, 1)

    await bot.money.payments.refund(payment.id, decided_by=9)
    assert not bot.money.subscriptions.active_plans(INVITER)
    assert bot.referrals.extra_requests(INVITER) == 0
    assert bot.referrals.counts(INVITER) == (1, 0)
    await bot.paid(FRIEND)  # a later payment earns no second bonus
    assert not bot.money.subscriptions.active_plans(INVITER)
    await bot.money.storage.close()

    restarted = await start(tmp_path, catalog)
    assert not restarted.money.subscriptions.active_plans(INVITER)
    assert restarted.referrals.counts(INVITER) == (1, 0)
    (referral,) = read_live_records(tmp_path)["referrals"].values()
    assert referral["refunded_at"] is not None and referral["payment_id"] == payment.id


# Refunds through the outbox ----------------------------------------------------------------
async def test_a_refund_request_survives_a_restart_and_is_recorded_once(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    invoice = await money.payments.open_invoice(USER, "premium1", "stars")
    await money.payments.accept(stars(invoice))
    request = await money.payments.request_refund(invoice.id, decided_by=9)
    with pytest.raises(Exception, match="in_progress"):
        await money.payments.request_refund(invoice.id, decided_by=9)  # a double tap
    await money.storage.close()

    restarted = await open_money(tmp_path, catalog)  # e.g. killed before Telegram answered
    (pending,) = restarted.payments.outbox.pending("refund_stars")
    assert (pending.id, pending.charge_id, pending.requested_by) == (request.id, "charge-1", 9)
    follow_ups = await restarted.payments.complete_refund(pending)
    assert [item.text for item in follow_ups] == ["pay_refunded"]
    assert status(restarted, invoice) == "refunded"
    assert not restarted.subscriptions.active_plans(USER)
    assert await restarted.payments.complete_refund(pending) == []  # twice: recorded once
    assert not restarted.payments.outbox.pending("refund_stars")


# SBP receipts --------------------------------------------------------------------------------
async def test_an_invoice_reaches_the_managers_with_one_receipt_and_still_expires(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    invoice = await money.payments.open_invoice(USER, "gpt_pro", "sbp")
    take = money.payments.take_receipt
    assert await take(invoice.id, attached=False) is not None  # "I have paid"
    assert await take(invoice.id, attached=False) is None  # pressed again
    first = await take(invoice.id, attached=True)  # then the receipt itself
    assert first is not None and first.receipts == 1
    assert [await take(invoice.id, attached=True) for _ in range(9)] == [None] * 9
    await money.storage.close()

    restarted = await open_money(tmp_path, catalog)
    assert await restarted.payments.take_receipt(invoice.id, attached=True) is None
    ttl = 86400.0
    assert await restarted.payments.expire_stale(ttl, now=invoice.created_at + 2 * ttl) == []
    late = invoice.created_at + ttl + 7 * DAY + 1  # a receipt no manager decided on
    (expired,) = await restarted.payments.expire_stale(ttl, now=late)
    assert expired.id == invoice.id and expired.status == "expired"
    credit = await restarted.payments.confirm(invoice.id, decided_by=9)  # still confirmable
    assert credit.newly_paid


# The YooMoney poller reads the whole history back to the oldest open invoice --------------
async def test_the_poller_finds_a_deposit_behind_thousands_of_newer_operations(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    invoice = await money.payments.open_invoice(USER, "premium1", "yoomoney")
    wallet = FakeYooMoney()
    await wallet.start()
    moment = dt.datetime.now(dt.UTC)
    wallet.add("op-ours", 675.0, invoice.id, datetime=moment)
    for number in range(1, 1501):  # an outage: 1,500 other deposits came in after it
        wallet.add(f"op-{number}", 10.0, "", datetime=moment + dt.timedelta(seconds=number))
    async with aiohttp.ClientSession() as http:
        checker = checker_for(money)
        checker._client = YooMoneyClient(http, wallet.base_url, wallet.token)
        assert await checker.check_all() == 1
    await wallet.stop()
    assert status(money, invoice) == "paid"
    assert len(wallet.requests) == 16  # every page, each once
