"""Money rules: exactly-once credit, forward-only status, YooMoney matching, hashes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest

from services.catalog import Catalog
from services.money.payments import CreditResult, PaymentError, PaymentRefusal
from services.money.subscriptions import DAY
from services.money.yoomoney import Operation, YooMoneyChecker, notification_hash_ok, quickpay_url
from services.operator.alerts import AlertService
from tests.unit.conftest import open_money


class RecordingAlerts(AlertService):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def alert(self, key: str, text: str) -> bool:
        self.sent.append(text)
        return True


async def make(tmp_path: Path, catalog: Catalog):
    money = await open_money(tmp_path, catalog)
    payments, subs = money.payments, money.subscriptions
    credited: list[CreditResult] = []

    async def listener(result: CreditResult) -> None:
        credited.append(result)

    payments.credit_listeners.append(listener)
    alerts = RecordingAlerts()
    checker = YooMoneyChecker(
        None,
        payments,
        alerts,
        accepted_shortfall_percent=3.5,
        pending_ttl=86400,
        late_window=7 * 86400,
    )
    return payments, subs, checker, credited, alerts


async def test_every_path_at_once_credits_once(tmp_path: Path, catalog: Catalog) -> None:
    payments, subs, checker, credited, _ = await make(tmp_path, catalog)
    payment = await payments.open_invoice(1, "premium1", "yoomoney")
    op = Operation("op-1", "success", "in", 675.0 * 0.97, payment.id)
    results = await asyncio.gather(
        checker.apply(op),
        checker.apply(op),
        payments.credit(payment.id, decided_by=99),
        checker.apply(op),
    )
    assert sum(1 for r in results if r is not None and r.newly_paid) == 1
    assert len(credited) == 1
    (sub,) = subs.subscriptions()
    assert len(sub.periods) == 1
    assert sub.end - sub.periods[0].start == 30 * DAY
    assert payments.get(payment.id).status == "paid"


async def test_shortfall_beyond_the_setting_is_not_credited(
    tmp_path: Path, catalog: Catalog
) -> None:
    payments, subs, checker, credited, alerts = await make(tmp_path, catalog)
    payment = await payments.open_invoice(1, "premium1", "yoomoney")
    assert await checker.apply(Operation("op-2", "success", "in", 600.0, payment.id)) is None
    assert await checker.apply(Operation("op-2", "success", "in", 600.0, payment.id)) is None
    assert payments.get(payment.id).status == "pending"
    assert subs.subscriptions() == [] and credited == []
    assert len(alerts.sent) == 1 and "600.00" in alerts.sent[0]
    # Refused or outgoing operations and other labels do nothing either.
    assert await checker.apply(Operation("op-3", "refused", "in", 675.0, payment.id)) is None
    assert await checker.apply(Operation("op-4", "success", "out", 675.0, payment.id)) is None
    assert await checker.apply(Operation("op-5", "success", "in", 675.0, "someone-else")) is None
    result = await checker.apply(Operation("op-6", "success", "in", 651.5, payment.id))
    assert result is not None and result.newly_paid  # 3.5% short is accepted


async def test_status_moves_only_forward(tmp_path: Path, catalog: Catalog) -> None:
    payments, subs, _, _, _ = await make(tmp_path, catalog)
    sbp = await payments.open_invoice(1, "gpt_pro", "sbp")
    await payments.reject(sbp.id, reason="no money", decided_by=5)
    with pytest.raises(PaymentError) as credited:
        await payments.credit(sbp.id, decided_by=5)
    assert (credited.value.reason, credited.value.status) == (
        PaymentRefusal.NOT_CREDITABLE,
        "rejected",
    )
    with pytest.raises(PaymentError) as rejected:
        await payments.reject(sbp.id, reason="again", decided_by=5)
    assert (rejected.value.reason, rejected.value.status) == (
        PaymentRefusal.NOT_PENDING,
        "rejected",
    )
    paid = await payments.open_invoice(1, "gpt_pro", "sbp")
    await payments.credit(paid.id, decided_by=5)
    with pytest.raises(PaymentError) as late:
        await payments.reject(paid.id, reason="late", decided_by=5)
    assert (late.value.reason, late.value.status) == (PaymentRefusal.NOT_PENDING, "paid")
    assert subs.active_plans(1)[0].plan.id == "gpt_pro"


async def test_expired_payment_still_takes_late_money(tmp_path: Path, catalog: Catalog) -> None:
    payments, subs, checker, credited, _ = await make(tmp_path, catalog)
    payment = await payments.open_invoice(1, "ai_group", "yoomoney")
    expired = await payments.expire_stale(max_age=86400, now=payment.created_at + 86401)
    assert [p.id for p in expired] == [payment.id]
    assert payments.get(payment.id).status == "expired"
    result = await checker.apply(Operation("late", "success", "in", 420.0, payment.id))
    assert result is not None and result.newly_paid and len(credited) == 1
    assert [a.plan.id for a in subs.active_plans(1)] == ["ai_group"]


async def test_stars_refund_takes_the_period_back(tmp_path: Path, catalog: Catalog) -> None:
    payments, subs, _, _, _ = await make(tmp_path, catalog)
    payment = await payments.open_invoice(3, "power_group", "stars")
    assert payment.currency == "XTR" and payment.amount == 580
    await payments.credit(payment.id, charge_id="ch_1")
    assert subs.active_plans(3)
    await payments.refund(payment.id, decided_by=1)
    assert subs.active_plans(3) == []
    assert payments.get(payment.id).status == "refunded"
    with pytest.raises(PaymentError) as again:
        await payments.refund(payment.id, decided_by=1)
    assert (again.value.reason, again.value.status) == (PaymentRefusal.NOT_PAID, "refunded")


async def test_format_1_crash_after_period_before_payment_is_repaired(
    tmp_path: Path, catalog: Catalog
) -> None:
    """The old format wrote the period first: a crash between left the payment pending."""
    now = time.time()
    payment: dict[str, object] = {
        "id": "abc123abc123",
        "user_id": 4,
        "plan_id": "premium1",
        "method": "yoomoney",
        "amount": 675.0,
        "currency": "RUB",
        "status": "pending",
        "created_at": now - 60,
        "updated_at": now - 60,
    }
    period = {"start": now - 30, "end": now + 30 * DAY, "source": "payment:abc123abc123"}
    (tmp_path / "payments.json").write_text(json.dumps([payment]))
    (tmp_path / "subscriptions.json").write_text(
        json.dumps(
            [{"user_id": 4, "plan_id": "premium1", "periods": [period], "reminders_sent": []}]
        )
    )
    payments2, subs2, checker2, credited2, _ = await make(tmp_path, catalog)
    assert payments2.get(payment["id"]).status == "paid"
    assert await checker2.apply(Operation("op", "success", "in", 675.0, "abc123abc123")) is None
    assert len(subs2.subscriptions()[0].periods) == 1 and credited2 == []


def test_notification_hash_is_checked_like_yoomoney() -> None:
    fields = {
        "notification_type": "card-incoming",
        "operation_id": "1234567",
        "amount": "651.00",
        "currency": "643",
        "datetime": "2026-11-28T12:00:00Z",
        "sender": "",
        "codepro": "false",
        "label": "abc123",
    }
    raw = "card-incoming&1234567&651.00&643&2026-11-28T12:00:00Z&&false&s3cret&abc123"
    fields["sha1_hash"] = hashlib.sha1(raw.encode()).hexdigest()
    assert notification_hash_ok(fields, "s3cret")
    assert not notification_hash_ok(fields, "other")
    assert not notification_hash_ok({**fields, "amount": "6510.00"}, "s3cret")


def test_quickpay_link_carries_receiver_sum_and_label() -> None:
    url = quickpay_url(
        wallet="4100111", amount=675, label="abc", targets="Premium 1", success_url=None
    )
    assert url.startswith("https://yoomoney.ru/quickpay/confirm?")
    for part in ("receiver=4100111", "sum=675.00", "label=abc", "quickpay-form=button"):
        assert part in url
