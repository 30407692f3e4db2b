"""Payment handlers through the production Dispatcher: one effect per intent, no lost money."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from aiogram.methods import AnswerPreCheckoutQuery, RefundStarPayment, SendInvoice, SendMessage
from aiogram.types import (
    Chat,
    Message,
    PreCheckoutQuery,
    SuccessfulPayment,
    Update,
    User,
)

from edge.callbacks import PayMethod, PayWith, SbpPaid
from runtime.notices import PaymentNotices
from services.models import UserRecord
from tests import factories
from tests.integration.conftest import Harness

ADMIN = 1
USER = 7


def enable_sbp(harness: Harness) -> None:
    settings = harness.dispatcher["settings"]
    harness.dispatcher["settings"] = settings.model_copy(update={"sbp_details": "Карта 2200"})


def user(user_id: int = USER) -> User:
    return factories.user(user_id)


async def feed_message(harness: Harness, message: Message, update_id: int) -> None:
    await harness.dispatcher.feed_update(harness.bot, Update(update_id=update_id, message=message))


async def test_pressing_a_payment_method_again_shows_the_same_invoice(harness: Harness) -> None:
    enable_sbp(harness)
    for _ in range(3):
        await harness.press(USER, PayWith(plan_id="premium1", method=PayMethod.STARS).pack())
    await asyncio.gather(
        *(
            harness.press(USER, PayWith(plan_id="premium1", method=PayMethod.SBP).pack())
            for _ in range(3)
        )
    )
    pending = harness.services.payments.with_status("pending")
    assert sorted(p.method for p in pending) == ["sbp", "stars"]
    invoices = [c for c in harness.session.calls if isinstance(c, SendInvoice)]
    assert len(invoices) == 3 and len({c.payload for c in invoices}) == 1


async def test_an_sbp_receipt_after_expiry_reaches_the_managers_and_can_be_confirmed(
    harness: Harness,
) -> None:
    enable_sbp(harness)
    payments = harness.services.payments
    await harness.press(USER, PayWith(plan_id="gpt_pro", method=PayMethod.SBP).pack())
    (payment,) = payments.with_status("pending")
    await payments.expire_stale(3600, now=payment.created_at + 3601)
    await harness.press(USER, SbpPaid(payment_id=payment.id).pack())
    to_admin = [
        c for c in harness.session.calls if isinstance(c, SendMessage) and c.chat_id == ADMIN
    ]
    assert any(payment.id in (c.text or "") for c in to_admin), "the manager got no request"
    await harness.message(ADMIN, f"/confirm {payment.id}")
    assert "подтверждён" in harness.session.texts_to(ADMIN)[-1]
    assert [a.plan.id for a in harness.services.subscriptions.active_plans(USER)] == ["gpt_pro"]


async def test_refund_pressed_twice_at_once_refunds_once(harness: Harness) -> None:
    payments = harness.services.payments
    payment = await payments.open_invoice(USER, "power_group", "stars")
    await payments.credit(payment.id, charge_id="charge-1")
    await asyncio.gather(
        harness.message(ADMIN, f"/refund {payment.id}"),
        harness.message(ADMIN, f"/refund {payment.id}"),
    )
    refunds = [c for c in harness.session.calls if isinstance(c, RefundStarPayment)]
    assert len(refunds) == 1
    assert payments.get(payment.id).status == "refunded"  # type: ignore[union-attr]


async def test_pre_checkout_is_answered_even_while_storage_is_stuck(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 10 s pre-checkout answer must never wait for a write."""
    payment = await harness.services.payments.open_invoice(USER, "premium1", "stars")
    stuck = asyncio.Event()

    async def stuck_save(record: UserRecord) -> None:
        await stuck.wait()

    monkeypatch.setattr(harness.services.storage, "save_user", stuck_save)
    query = PreCheckoutQuery(
        id="pcq-1",
        from_user=User(id=USER, is_bot=False, first_name="Новое имя", language_code="ru"),
        currency="XTR",
        total_amount=int(payment.amount),
        invoice_payload=payment.id,
    )
    started = time.monotonic()
    await asyncio.wait_for(
        harness.dispatcher.feed_update(harness.bot, Update(update_id=1, pre_checkout_query=query)),
        timeout=2,
    )
    assert time.monotonic() - started < 1
    (answer,) = [c for c in harness.session.calls if isinstance(c, AnswerPreCheckoutQuery)]
    assert answer.ok
    stuck.set()


async def test_a_second_stars_payment_is_recorded_with_its_charge(harness: Harness) -> None:
    payments = harness.services.payments
    payment = await payments.open_invoice(USER, "premium1", "stars")
    for number, charge in enumerate(("charge-A", "charge-A", "charge-B"), 1):
        message = Message(
            message_id=100 + number,
            date=dt.datetime.now(),
            chat=Chat(id=USER, type="private"),
            from_user=user(),
            successful_payment=SuccessfulPayment(
                currency="XTR",
                total_amount=int(payment.amount),
                invoice_payload=payment.id,
                telegram_payment_charge_id=charge,
                provider_payment_charge_id="",
            ),
        )
        await feed_message(harness, message, update_id=100 + number)
    assert payments.get(payment.id).status == "paid"  # type: ignore[union-attr]
    (item,) = payments.unmatched()
    assert (item.id, item.user_id, item.reason) == ("stars:charge-B", USER, "paid")
    active = harness.services.subscriptions.active_plans(USER)
    assert len(active) == 1 and round((active[0].end - time.time()) / 86400) == 30
    await harness.message(ADMIN, "/payments")
    assert "stars:charge-B" in harness.session.texts_to(ADMIN)[-1]
    await asyncio.gather(*(harness.message(ADMIN, "/refund stars:charge-B") for _ in range(2)))
    refunds = [c for c in harness.session.calls if isinstance(c, RefundStarPayment)]
    assert [(c.user_id, c.telegram_payment_charge_id) for c in refunds] == [(USER, "charge-B")]
    assert payments.unmatched() == []
    assert payments.get(payment.id).status == "paid"  # type: ignore[union-attr]  # the first stays


async def test_admin_notices_follow_the_admins_language(harness: Harness) -> None:
    enable_sbp(harness)
    services = harness.services
    notices = PaymentNotices(
        harness.bot, harness.dispatcher["notifier"], services.users, harness.dispatcher["settings"]
    )
    services.payments.credit_listeners.append(notices.on_credit)
    await harness.message(ADMIN, "/start", language="en")
    await harness.press(USER, PayWith(plan_id="gpt_pro", method=PayMethod.SBP).pack())
    (payment,) = harness.services.payments.with_status("pending")
    await harness.press(USER, SbpPaid(payment_id=payment.id).pack())
    request = harness.session.texts_to(ADMIN)[-1]
    assert "SBP: check the payment" in request and payment.id in request
    await harness.message(ADMIN, f"/confirm {payment.id}", language="en")
    paid = [t for t in harness.session.texts_to(ADMIN) if payment.id in t]
    assert any(t.startswith("💰 <b>Payment</b>") for t in paid)
