"""The notifier's one policy for what the bot sends on its own (429: wait and retry;
403: the user marked blocked; anything else: logged with the reason), and the
recipient's language looked up in one place, through the production wiring."""

from __future__ import annotations

import logging

import pytest
from aiogram.methods import CopyMessage, SendMessage

from edge.notifier import Delivery, Notifier
from runtime.reminders import send_reminder
from services.money.subscriptions import Reminder
from tests.integration.conftest import BOT_BLOCKED, Harness, TelegramError, flood

ADMIN = 1  # the harness's ADMIN_IDS
USER = 7


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds the notifier slept (it does not really sleep here)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("edge.notifier.asyncio.sleep", sleep)
    return slept


def notifier_of(harness: Harness) -> Notifier:
    notifier: Notifier = harness.dispatcher["notifier"]
    return notifier


async def test_a_429_is_waited_out_and_the_notice_arrives_in_the_users_language(
    harness: Harness, waits: list[float]
) -> None:
    await harness.message(USER, "/start", language="en")
    harness.session.fail(SendMessage, flood(7), times=2, where=lambda m: m.chat_id == USER)
    sent = await notifier_of(harness).tell_user(harness.bot, USER, "revoked_notice", plan="X")
    assert sent.ok and waits == [7, 7]
    assert harness.session.texts_to(USER)[-1] == (
        "Your <b>X</b> subscription was turned off by an administrator."
    )


async def test_a_429_is_handed_back_to_a_caller_that_paces_itself(
    harness: Harness, waits: list[float]
) -> None:
    harness.session.fail(SendMessage, flood(30), where=lambda m: m.chat_id == USER)
    sent = await notifier_of(harness).send(harness.bot, USER, "hello", wait=False)
    assert sent.delivery is Delivery.LIMITED and sent.retry_after == 30
    assert waits == [] and harness.session.texts_to(USER) == []


async def test_a_user_who_blocked_the_bot_is_marked_blocked_for_broadcasts(
    harness: Harness,
) -> None:
    await harness.message(USER, "/start")
    assert USER in await harness.services.users.broadcast_recipients()
    harness.session.fail(SendMessage, BOT_BLOCKED, where=lambda m: m.chat_id == USER)
    sent = await notifier_of(harness).tell_user(harness.bot, USER, "revoked_notice", plan="X")
    assert sent.delivery is Delivery.BLOCKED and "blocked" in sent.reason
    user = await harness.services.users.get(USER)
    assert user is not None and user.blocked
    assert USER not in await harness.services.users.broadcast_recipients()


async def test_any_other_refusal_is_logged_with_telegrams_reason(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    refusal = TelegramError(400, "Bad Request: chat not found")
    harness.session.fail(CopyMessage, refusal, where=lambda m: m.chat_id == ADMIN)
    with caplog.at_level(logging.WARNING, logger="edge.notifier"):
        sent = await notifier_of(harness).copy(harness.bot, ADMIN, USER, 5)
    assert sent.delivery is Delivery.REFUSED
    assert any("chat not found" in record.getMessage() for record in caplog.records)


async def test_a_plan_reminder_goes_through_the_same_policy(
    harness: Harness, waits: list[float]
) -> None:
    await harness.message(USER, "/start")
    plan = harness.services.catalog.plans[0]
    harness.session.fail(SendMessage, flood(3), where=lambda m: m.chat_id == USER)
    settings = harness.dispatcher["settings"]
    reminder = Reminder(user_id=USER, plan=plan, kind="1d", end=0.0)
    await send_reminder(harness.bot, notifier_of(harness), settings, reminder)
    assert waits == [3] and plan.name in harness.session.texts_to(USER)[-1]
