"""Telegram's error answers (429, 400 "not modified", 403 blocked) through the production
Dispatcher: each branch in milliseconds, with no emulator and no bot process."""

from __future__ import annotations

import time

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from edge.callbacks import AdminMenu, PayMethod, PayWith, SbpPaid, Section
from tests.integration.conftest import (
    BOT_BLOCKED,
    MESSAGE_NOT_MODIFIED,
    Harness,
    TelegramError,
    flood,
)

ADMIN = 1  # the harness's ADMIN_IDS
USER = 7


def sent_to(harness: Harness, chat_id: int) -> list[SendMessage]:
    return [c for c in harness.session.calls if isinstance(c, SendMessage) and c.chat_id == chat_id]


async def sbp_payment_sent(harness: Harness) -> str:
    """USER pays for Premium 1 by SBP and says so; an admin is yet to confirm it."""
    settings = harness.dispatcher["settings"]
    harness.dispatcher["settings"] = settings.model_copy(update={"sbp_details": "Карта 2200"})
    await harness.press(USER, PayWith(plan_id="premium1", method=PayMethod.SBP).pack())
    (payment,) = harness.services.payments.with_status("pending")
    await harness.press(USER, SbpPaid(payment_id=payment.id).pack())
    return payment.id


async def test_a_user_who_blocked_the_bot_is_not_told_about_an_error(harness: Harness) -> None:
    harness.session.fail(SendMessage, BOT_BLOCKED, times=None, where=lambda m: m.chat_id == USER)
    await harness.message(USER, "/start")
    refused = [c for c in harness.session.refused if isinstance(c, SendMessage)]
    assert [c.chat_id for c in refused] == [USER]  # the greeting, once: no error notice tried
    assert sent_to(harness, USER) == [] and sent_to(harness, ADMIN) == []  # no alert either


@pytest.mark.parametrize(
    ("answer", "sent_anew"),
    [
        (MESSAGE_NOT_MODIFIED, False),  # the screen already shows it: nothing to do
        (TelegramError(400, "Bad Request: message can't be edited"), True),
    ],
)
async def test_an_admin_screen_that_cannot_be_edited_is_sent_anew(
    harness: Harness, answer: TelegramError, sent_anew: bool
) -> None:
    harness.session.fail(EditMessageText, answer)
    await harness.press(ADMIN, AdminMenu(section=Section.MAIN).pack())
    assert [type(c) for c in harness.session.refused] == [EditMessageText]
    assert len(sent_to(harness, ADMIN)) == int(sent_anew)
    assert any(isinstance(c, AnswerCallbackQuery) for c in harness.session.calls)


async def test_a_payment_notice_answered_429_waits_retry_after_then_arrives(
    harness: Harness,
) -> None:
    payment_id = await sbp_payment_sent(harness)
    harness.session.fail(SendMessage, flood(30), where=lambda m: m.chat_id == USER)
    before = time.time()
    await harness.message(ADMIN, f"/confirm {payment_id}")
    outbox = harness.services.payments.outbox
    (notice,) = outbox.pending("tell_user")
    assert notice.attempts == 1 and notice.due_at >= before + 30
    assert "retry after 30" in (notice.last_error or "")
    assert outbox.due() == []  # not before Telegram's retry_after
    worker = harness.dispatcher["outbox_worker"]
    for item in outbox.due(now=notice.due_at):
        await worker.run(harness.bot, item.id)
    assert outbox.pending("tell_user") == []
    assert [getattr(c, "chat_id", None) for c in harness.session.refused] == [USER]
    assert "Premium 1" in sent_to(harness, USER)[-1].text


async def test_a_payment_notice_to_a_user_who_blocked_the_bot_is_given_up_quietly(
    harness: Harness,
) -> None:
    payment_id = await sbp_payment_sent(harness)
    harness.session.fail(SendMessage, BOT_BLOCKED, times=None, where=lambda m: m.chat_id == USER)
    await harness.message(ADMIN, f"/confirm {payment_id}")
    outbox = harness.services.payments.outbox
    assert outbox.pending("tell_user") == []  # final: not retried
    (done,) = [item for item in outbox._items.values() if item.kind == "tell_user"]
    assert done.failed is not None and "blocked" in done.failed
    to_admin = " ".join(c.text for c in sent_to(harness, ADMIN))
    assert "Telegram refused" not in to_admin  # no alert for a notice nobody can read
    assert harness.services.payments.get(payment_id).status == "paid"  # type: ignore[union-attr]
