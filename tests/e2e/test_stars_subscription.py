"""A plan bought as a Telegram Stars subscription, through the real bot process: the link,
the first charge, renewals (also delivered twice), cancel and resume from /profile, and a
refund of a renewal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.callbacks import PayMethod, Renewal, RenewalAct
from services.money.payments import charge_payment_id
from tests.e2e.conftest import ADMIN, StartBot, money_records
from tests.e2e.test_payments import buy
from tests.factories import callback_prefix
from tests.stubs.telegram_server import FakeTelegram, SentMessage

USER = 910
DAY = 86_400


def plan_days(data_dir: Path, user: int) -> float:
    """How many days from now the user's plan runs (0 if none)."""
    ends = [
        period["end"]
        for record in money_records(data_dir, "subscriptions")
        if record["user_id"] == user
        for period in record["periods"]
    ]
    return (max(ends, default=time.time()) - time.time()) / DAY


def period_count(data_dir: Path, user: int) -> int:
    records = money_records(data_dir, "subscriptions")
    return sum(len(r["periods"]) for r in records if r["user_id"] == user)


async def subscribe(telegram: FakeTelegram, data_dir: Path) -> str:
    """/plans -> Power Group -> "Stars, renews monthly" -> pay the link; returns its payload."""
    offer = await buy(telegram, USER, "power_group", PayMethod.STARS_MONTHLY)
    assert "каждые 30 дней" in offer.text and "/profile" in offer.text
    (url,) = [button["url"] for button in offer.buttons() if "url" in button]
    assert url.startswith("https://t.me/$")
    (link,) = telegram.invoice_links
    assert (link["currency"], link["amount"], link["subscription_period"]) == (
        "XTR",
        580,
        2592000,
    )
    assert [record["id"] for record in money_records(data_dir, "stars_subscriptions")] == [
        link["payload"]
    ]
    assert await telegram.pay_invoice_link(USER, url, "charge-first") is not None
    await telegram.wait_for_message(USER, "Оплата получена")
    return str(link["payload"])


async def open_profile(telegram: FakeTelegram) -> SentMessage:
    telegram.user_message(USER, "/profile")
    return await telegram.wait_for_message(USER, "Профиль", after=telegram.last_id(USER))


async def test_renewals_extend_the_plan_once_each_and_cancel_and_resume_from_profile(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    await subscribe(telegram, data_dir)
    assert plan_days(data_dir, USER) == pytest.approx(30, abs=0.01)

    renewal = telegram.renew_star_subscription("charge-first", "charge-renewal-1")
    await telegram.wait_for_message(USER, "Подписка за звёзды продлена")
    assert plan_days(data_dir, USER) == pytest.approx(60, abs=0.01)
    again = telegram.repeat_update(renewal)  # the same renewal delivered twice
    await telegram.wait_for(lambda: telegram.confirmed(again) or None)
    await telegram.wait_idle(USER, quiet=0.3)
    assert plan_days(data_dir, USER) == pytest.approx(60, abs=0.01)
    assert period_count(data_dir, USER) == 2
    assert sum("продлена" in m.text for m in telegram.messages(USER)) == 1

    profile = await open_profile(telegram)
    assert "следующее продление" in profile.text
    telegram.press(
        USER, profile, profile.data_starting(callback_prefix(Renewal, action=RenewalAct.CANCEL))
    )
    cancelled = await telegram.wait_for_message(USER, "отменено", after=profile.message_id)
    assert "Тариф действует до" in cancelled.text
    (edit,) = telegram.subscription_edits
    assert (edit["user_id"], edit["telegram_payment_charge_id"]) == (str(USER), "charge-first")
    assert edit["is_canceled"] in (True, "true")
    assert telegram.star_subscriptions["charge-first"]["canceled"]
    assert plan_days(data_dir, USER) == pytest.approx(60, abs=0.01)  # runs to its end
    (record,) = money_records(data_dir, "stars_subscriptions")
    assert record["canceled"] is True

    profile = await open_profile(telegram)
    assert "продление отменено" in profile.text
    telegram.press(
        USER, profile, profile.data_starting(callback_prefix(Renewal, action=RenewalAct.RESUME))
    )
    await telegram.wait_for_message(USER, "снова включено", after=profile.message_id)
    assert len(telegram.subscription_edits) == 2
    resumed = telegram.subscription_edits[-1]
    assert resumed["telegram_payment_charge_id"] == "charge-first"
    assert resumed["is_canceled"] in (False, "false")
    assert not telegram.star_subscriptions["charge-first"]["canceled"]
    (record,) = money_records(data_dir, "stars_subscriptions")
    assert record["canceled"] is False
    # The pressed message's button shows the state now.
    shown = next(m for m in telegram.messages(USER) if m.message_id == profile.message_id)
    assert shown.data_starting(callback_prefix(Renewal, action=RenewalAct.CANCEL))


async def test_a_refunded_renewal_ends_the_subscription_and_later_charges_are_recorded(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    await subscribe(telegram, data_dir)
    telegram.renew_star_subscription("charge-first", "charge-renewal-1")
    await telegram.wait_for_message(USER, "Подписка за звёзды продлена")
    payment_id = charge_payment_id("charge-renewal-1")

    telegram.user_message(ADMIN, f"/refund {payment_id}")
    answer = await telegram.wait_for_message(ADMIN, "Stars возвращены")
    assert "больше не продлевается" in answer.text
    assert telegram.refunds[-1]["telegram_payment_charge_id"] == "charge-renewal-1"
    assert telegram.subscription_edits[-1]["is_canceled"] in (True, "true")
    await telegram.wait_for_message(USER, "больше не продлевается")
    assert plan_days(data_dir, USER) == pytest.approx(30, abs=0.01)

    # A charge that still comes is not credited, but recorded for the admins.
    telegram.renew_star_subscription("charge-first", "charge-renewal-2", even_if_canceled=True)
    await telegram.wait_for_message(ADMIN, "not credited")
    assert plan_days(data_dir, USER) == pytest.approx(30, abs=0.01)
    (item,) = money_records(data_dir, "unmatched_money")
    assert (item["id"], item["reason"]) == ("stars:charge-renewal-2", "refunded")
    profile = await open_profile(telegram)
    assert not [b for b in profile.buttons() if "продление" in b["text"]]
