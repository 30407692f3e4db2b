"""Telegram Stars subscriptions: every charge credited once, renewals extend the plan,
cancel and refund handled, nothing dropped."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.exports import export_payments
from services.catalog import Catalog
from services.container import plans_in_use
from services.models import StarsSubscription
from services.money.payments import (
    STARS_SUBSCRIPTION_PERIOD,
    ArrivalOutcome,
    CreditResult,
    MoneyArrival,
    PaymentError,
    PaymentRefusal,
    charge_payment_id,
)
from services.storage.base import DAY, Transaction
from services.storage.json_store import read_live_records
from tests.unit.conftest import Money, open_money

USER = 5
PLAN = "power_group"  # 580 Stars, 30 days


async def subscribed(tmp_path: Path, catalog: Catalog) -> tuple[Money, StarsSubscription]:
    """A user who opened a subscription link and paid its first charge ("first")."""
    money = await open_money(tmp_path, catalog)
    record = await money.payments.open_subscription(USER, PLAN)
    outcome = await money.payments.accept(charge(record, "first", first=True))
    assert outcome.credit is not None and outcome.credit.newly_paid
    return money, record


def charge(
    record: StarsSubscription,
    charge_id: str,
    *,
    first: bool = False,
    expires: float | None = None,
    user_id: int = USER,
) -> MoneyArrival:
    """A successful_payment of the subscription, as the handler turns it into an arrival."""
    return MoneyArrival(
        method="stars",
        external_id=charge_id,
        amount=float(record.stars),
        currency="XTR",
        reference=record.id,
        user_id=user_id,
        recurring=True,
        first_recurring=first,
        expires_at=expires or time.time() + STARS_SUBSCRIPTION_PERIOD,
    )


def plan_end(money: Money) -> float:
    (item,) = money.subscriptions.active_plans(USER)
    return item.end


def periods(money: Money) -> int:
    return sum(len(s.periods) for s in money.subscriptions.subscriptions() if s.user_id == USER)


async def test_the_first_charge_grants_the_plan_and_names_the_subscription(
    tmp_path: Path, catalog: Catalog
) -> None:
    credited: list[CreditResult] = []
    money = await open_money(tmp_path, catalog)

    async def listener(result: CreditResult) -> None:
        credited.append(result)

    money.payments.credit_listeners.append(listener)
    record = await money.payments.open_subscription(USER, PLAN)
    assert record.id.startswith("sub") and record.stars == 580
    again = await money.payments.open_subscription(USER, PLAN)  # a second press
    assert again.id == record.id
    assert money.payments.stars_checkout_ok(record.id, USER, "XTR", 580)
    assert not money.payments.stars_checkout_ok(record.id, USER, "XTR", 1)
    assert not money.payments.stars_checkout_ok(record.id, USER + 1, "XTR", 580)

    started = time.time()
    outcome = await money.payments.accept(charge(record, "first", first=True))
    assert outcome.credit is not None
    payment = outcome.credit.payment
    assert (payment.id, payment.status, payment.charge_id, payment.recurring_id) == (
        charge_payment_id("first"),
        "paid",
        "first",
        record.id,
    )
    assert plan_end(money) == pytest.approx(started + 30 * DAY, abs=5)
    current = money.payments.stars_subscription(record.id)
    assert current is not None and current.first_charge_id == "first"
    assert current.renews(time.time())
    assert [r.renewal for r in credited] == [False]
    # Renewing now: no second subscription to the same plan, no second link.
    assert not money.payments.stars_checkout_ok(record.id, USER, "XTR", 580)
    with pytest.raises(PaymentError) as refused:
        await money.payments.open_subscription(USER, PLAN)
    assert refused.value.reason is PaymentRefusal.ALREADY_RENEWING


async def test_a_renewal_extends_from_the_current_end(tmp_path: Path, catalog: Catalog) -> None:
    money, record = await subscribed(tmp_path, catalog)
    end_after_first = plan_end(money)
    outcome = await money.payments.accept(charge(record, "renewal-1"))
    assert outcome.credit is not None and outcome.credit.renewal
    assert plan_end(money) == pytest.approx(end_after_first + 30 * DAY, abs=1)
    assert outcome.credit.end == pytest.approx(end_after_first + 30 * DAY, abs=1)
    assert periods(money) == 2


async def test_the_csv_export_names_each_charges_subscription(
    tmp_path: Path, catalog: Catalog
) -> None:
    money, record = await subscribed(tmp_path, catalog)
    await money.payments.accept(charge(record, "renewal-1"))
    out = tmp_path / "out"
    out.mkdir()
    (path,) = await export_payments(money.payments.history(), ZoneInfo("UTC"), out, "all")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert sorted((row["charge_id"], row["recurring_id"]) for row in rows) == [
        ("first", record.id),
        ("renewal-1", record.id),
    ]


async def test_the_same_renewal_twice_credits_once(tmp_path: Path, catalog: Catalog) -> None:
    money, record = await subscribed(tmp_path, catalog)
    first, second = await asyncio.gather(
        money.payments.accept(charge(record, "renewal-1")),
        money.payments.accept(charge(record, "renewal-1")),
    )
    assert [o.credit is not None for o in (first, second)].count(True) == 1
    assert [o.seen_before for o in (first, second)].count(True) == 1
    again = await money.payments.accept(charge(record, "renewal-1"))  # later again
    assert again == ArrivalOutcome(seen_before=True)
    assert periods(money) == 2
    assert money.payments.unmatched() == []

    # After a restart (memory lost) the same charge still credits nothing.
    restarted = await open_money(tmp_path, catalog)
    end = plan_end(restarted)
    again = await restarted.payments.accept(charge(record, "renewal-1"))
    assert again.seen_before and again.credit is None and again.unmatched is None
    assert plan_end(restarted) == end and periods(restarted) == 2
    assert restarted.payments.unmatched() == []


async def test_a_delivery_of_the_first_charge_again_credits_nothing(
    tmp_path: Path, catalog: Catalog
) -> None:
    money, record = await subscribed(tmp_path, catalog)
    again = await money.payments.accept(charge(record, "first", first=True))
    assert again.seen_before and periods(money) == 1 and money.payments.unmatched() == []


async def test_cancel_and_resume_are_recorded_and_a_late_renewal_is_credited(
    tmp_path: Path, catalog: Catalog
) -> None:
    money, record = await subscribed(tmp_path, catalog)
    claimed = money.payments.begin_renewal_change(USER, record.id, cancel=True)
    with pytest.raises(PaymentError) as busy:  # a double tap meanwhile
        money.payments.begin_renewal_change(USER, record.id, cancel=True)
    assert busy.value.reason is PaymentRefusal.IN_PROGRESS
    assert claimed.first_charge_id == "first"
    await money.payments.set_renewal(record.id, canceled=True)
    money.payments.end_renewal_change(record.id)
    with pytest.raises(PaymentError) as other:  # not the user's
        money.payments.begin_renewal_change(USER + 1, record.id, cancel=False)
    assert other.value.reason is PaymentRefusal.NOT_RUNNING

    restarted = await open_money(tmp_path, catalog)
    current = restarted.payments.stars_subscription(record.id)
    assert current is not None and current.canceled and not current.renews(time.time())
    assert [r.id for r in restarted.payments.running_subscriptions(USER)] == [record.id]
    # No renewal is expected now; one charged just before the cancel may still come: the
    # user paid for it, so it is credited.
    end = plan_end(restarted)
    late = await restarted.payments.accept(charge(record, "late"))
    assert late.credit is not None and late.credit.renewal
    assert plan_end(restarted) == pytest.approx(end + 30 * DAY, abs=1)
    current = restarted.payments.stars_subscription(record.id)
    assert current is not None and current.canceled  # still cancelled

    restarted.payments.begin_renewal_change(USER, record.id, cancel=False)
    resumed = await restarted.payments.set_renewal(record.id, canceled=False)
    restarted.payments.end_renewal_change(record.id)
    assert resumed.renews(time.time())


async def test_a_renewal_after_a_refund_is_recorded_not_credited(
    tmp_path: Path, catalog: Catalog
) -> None:
    money, record = await subscribed(tmp_path, catalog)
    renewal = await money.payments.accept(charge(record, "renewal-1"))
    assert renewal.credit is not None
    end_before = plan_end(money)
    payment = await money.payments.begin_refund(renewal.credit.payment.id)
    await money.payments.refund(payment.id, decided_by=1)
    money.payments.end_refund(payment.id)
    assert plan_end(money) == pytest.approx(end_before - 30 * DAY, abs=1)  # taken back
    current = money.payments.stars_subscription(record.id)
    assert current is not None and current.refunded_at is not None
    assert money.payments.running_subscriptions(USER) == []  # no Cancel button any more

    restarted = await open_money(tmp_path, catalog)
    end = plan_end(restarted)
    late = await restarted.payments.accept(charge(record, "renewal-2"))
    assert late.credit is None and late.unmatched is not None
    assert (late.unmatched.id, late.unmatched.reason, late.unmatched.user_id) == (
        "stars:renewal-2",
        "refunded",
        USER,
    )
    assert plan_end(restarted) == end
    again = await restarted.payments.accept(charge(record, "renewal-2"))
    assert again.seen_before and len(restarted.payments.unmatched()) == 1
    # The link cannot start a subscription again; a new press makes a new one.
    assert not restarted.payments.stars_checkout_ok(record.id, USER, "XTR", 580)
    fresh = await restarted.payments.open_subscription(USER, PLAN)
    assert fresh.id != record.id


async def test_charges_that_cannot_be_credited_are_recorded(
    tmp_path: Path, catalog: Catalog
) -> None:
    money, record = await subscribed(tmp_path, catalog)
    # A second subscription through the same link while the first renews.
    second = await money.payments.accept(charge(record, "first-again", first=True))
    assert second.unmatched is not None and second.unmatched.reason == "paid"
    # Another user's charge naming this subscription, and a subscription we do not know.
    stranger = await money.payments.accept(charge(record, "stranger", user_id=USER + 1))
    assert stranger.unmatched is not None and stranger.unmatched.reason == "unknown"
    ghost = dataclasses.replace(record, id="subdeadbeef0000")
    unknown = await money.payments.accept(charge(ghost, "ghost"))
    assert unknown.unmatched is not None and unknown.unmatched.reason == "unknown"
    assert periods(money) == 1
    assert sorted(item.id for item in money.payments.unmatched()) == [
        "stars:first-again",
        "stars:ghost",
        "stars:stranger",
    ]


async def test_a_new_subscription_through_the_link_after_the_old_one_ended(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Cancelled and run out, then subscribed again with the same link: a new first charge."""
    money, record = await subscribed(tmp_path, catalog)
    await money.payments.set_renewal(record.id, canceled=True)
    again = await money.payments.accept(charge(record, "first-2", first=True))
    assert again.credit is not None and not again.credit.renewal
    current = money.payments.stars_subscription(record.id)
    assert current is not None and current.first_charge_id == "first-2" and not current.canceled


async def test_records_are_stored_compacted_and_archived(tmp_path: Path, catalog: Catalog) -> None:
    money, record = await subscribed(tmp_path, catalog)
    old = StarsSubscription(
        id="subold00000000",
        user_id=9,
        plan_id=PLAN,
        stars=580,
        created_at=time.time() - 90 * DAY,
        updated_at=time.time() - 60 * DAY,
        first_charge_id="ancient",
        charges=("ancient",),
        expires_at=time.time() - 30 * DAY,
    )
    await money.storage.commit(Transaction(stars_subscriptions=[old]))
    assert set(read_live_records(tmp_path)["stars_subscriptions"]) == {record.id, old.id}
    await money.storage.maintain()
    snapshot = (tmp_path / "stars_subscriptions.json").read_bytes()
    assert snapshot.startswith(b'{"format":2') and record.id.encode() in snapshot
    assert old.id.encode() not in snapshot  # ended long ago: archived
    assert list((tmp_path / "archive" / "stars_subscriptions").glob("*.jsonl"))
    restarted = await open_money(tmp_path, catalog)
    loaded = restarted.payments.stars_subscription(record.id)
    assert loaded is not None and loaded.charges == ("first",)
    assert restarted.payments.stars_subscription(old.id) is None
    state = await restarted.storage.load_money()
    assert plans_in_use(state)[PLAN] == ["1 active subscriptions", "1 renewing Stars subscriptions"]
