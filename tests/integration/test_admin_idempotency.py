"""Admin buttons and commands that must act once however often they arrive."""

from __future__ import annotations

import asyncio
import time

from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import InlineKeyboardMarkup, Update, User

from edge.callbacks import AdminBroadcast, AdminMenu, AdminPayment, AdminUser
from services.money.payments import MoneyArrival
from tests import factories
from tests.integration.conftest import Harness
from texts import get_texts

ADMIN = 1
DAY = 86400.0


def _admin() -> User:
    return factories.user(ADMIN, first_name="Админ")


async def _press_on(harness: Harness, message_id: int, data: str, query_id: str) -> None:
    """The admin presses a button under the bot's message `message_id` (own query id)."""
    under = factories.bot_message(ADMIN, "confirm?", message_id)
    query = factories.callback(ADMIN, data, sender=_admin(), query_id=query_id, under=under)
    await harness.dispatcher.feed_update(
        harness.bot, factories.update(10_000 + int(query_id), callback_query=query)
    )


def _command_update(update_id: int, message_id: int, text: str) -> Update:
    message = factories.message(ADMIN, text, sender=_admin(), message_id=message_id)
    return factories.update(update_id, message=message)


def _days_left(harness: Harness, user_id: int, plan_id: str) -> float:
    ends = [
        item.end
        for item in harness.services.subscriptions.active_plans(user_id)
        if item.plan.id == plan_id
    ]
    assert len(ends) == 1, ends
    return (ends[0] - time.time()) / DAY


# Broadcast ------------------------------------------------------------------------------
async def _draft(harness: Harness, text: str) -> str:
    """Users 7 and 8 exist; the admin previews a broadcast; returns its id."""
    for user_id in (7, 8):
        await harness.message(user_id, "/start")
    await harness.message(ADMIN, f"/broadcast {text}")
    preview = [
        c
        for c in harness.session.calls
        if isinstance(c, SendMessage)
        and c.chat_id == ADMIN
        and isinstance(c.reply_markup, InlineKeyboardMarkup)
    ][-1]
    assert isinstance(preview.reply_markup, InlineKeyboardMarkup)
    data = preview.reply_markup.inline_keyboard[0][0].callback_data
    assert data is not None
    return AdminBroadcast.unpack(data).broadcast_id


async def _broadcasts_finished() -> None:
    for _ in range(500):
        running = [
            t for t in asyncio.all_tasks() if t.get_name().startswith("broadcast-") and not t.done()
        ]
        if not running:
            return
        await asyncio.wait(running, timeout=0.05)
    raise AssertionError("broadcast did not finish")


def _received(harness: Harness, user_id: int, text: str) -> int:
    return sum(
        1
        for c in harness.session.calls
        if isinstance(c, SendMessage) and c.chat_id == user_id and c.text == text
    )


async def test_broadcast_send_pressed_twice_at_once_sends_once(harness: Harness) -> None:
    harness.dispatcher["broadcast_runner"].attach(harness.bot)
    broadcast_id = await _draft(harness, "Новости")
    send = AdminBroadcast(action="send", broadcast_id=broadcast_id).pack()
    await asyncio.gather(harness.press(ADMIN, send), harness.press(ADMIN, send))
    await _broadcasts_finished()
    assert _received(harness, 7, "Новости") == 1
    assert _received(harness, 8, "Новости") == 1
    done = await harness.services.broadcasts.get(broadcast_id)
    assert done is not None and done.status == "done"
    finished = [t for t in harness.session.texts_to(ADMIN) if "завершена" in t]
    assert len(finished) == 1, finished  # one run, one final report


async def test_broadcast_send_pressed_again_later_does_nothing(harness: Harness) -> None:
    harness.dispatcher["broadcast_runner"].attach(harness.bot)
    broadcast_id = await _draft(harness, "Новости")
    send = AdminBroadcast(action="send", broadcast_id=broadcast_id).pack()
    await harness.press(ADMIN, send)
    await _broadcasts_finished()
    await harness.press(ADMIN, send)
    await _broadcasts_finished()
    assert _received(harness, 7, "Новости") == 1


async def test_broadcast_drop_pressed_twice_at_once_cancels_once(harness: Harness) -> None:
    broadcast_id = await _draft(harness, "Новости")
    drop = AdminBroadcast(action="drop", broadcast_id=broadcast_id).pack()
    await asyncio.gather(harness.press(ADMIN, drop), harness.press(ADMIN, drop))
    cancelled = [t for t in harness.session.texts_to(ADMIN) if t == "Отменено."]
    assert len(cancelled) == 1, harness.session.texts_to(ADMIN)
    dropped = await harness.services.broadcasts.get(broadcast_id)
    assert dropped is not None and dropped.status == "cancelled"


async def test_broadcast_send_and_drop_at_once_do_one_of_them(harness: Harness) -> None:
    harness.dispatcher["broadcast_runner"].attach(harness.bot)
    broadcast_id = await _draft(harness, "Новости")
    send = AdminBroadcast(action="send", broadcast_id=broadcast_id).pack()
    drop = AdminBroadcast(action="drop", broadcast_id=broadcast_id).pack()
    await asyncio.gather(harness.press(ADMIN, send), harness.press(ADMIN, drop))
    await _broadcasts_finished()
    final = await harness.services.broadcasts.get(broadcast_id)
    assert final is not None
    cancelled = [t for t in harness.session.texts_to(ADMIN) if t == "Отменено."]
    if final.status == "done":
        assert _received(harness, 7, "Новости") == 1 and not cancelled
    else:
        assert final.status == "cancelled" and len(cancelled) == 1
        assert _received(harness, 7, "Новости") == 0


# Grant ----------------------------------------------------------------------------------
async def test_grant_confirmation_pressed_twice_at_once_grants_once(harness: Harness) -> None:
    await harness.message(7, "/start")
    grant_ok = AdminUser(action="grant_ok", user_id=7, plan_id="premium1", days=30).pack()
    await asyncio.gather(harness.press(ADMIN, grant_ok), harness.press(ADMIN, grant_ok))
    await harness.press(ADMIN, grant_ok)  # and once more later
    assert 29.9 < _days_left(harness, 7, "premium1") <= 30
    notices = [t for t in harness.session.texts_to(7) if "Вам открыт тариф" in t]
    assert len(notices) == 1  # the user is told once


async def test_grant_confirmations_on_different_messages_both_grant(harness: Harness) -> None:
    await harness.message(7, "/start")
    grant_ok = AdminUser(action="grant_ok", user_id=7, plan_id="premium1", days=30).pack()
    await _press_on(harness, 501, grant_ok, query_id="1")
    await _press_on(harness, 502, grant_ok, query_id="2")
    assert 59.9 < _days_left(harness, 7, "premium1") <= 60


async def test_grant_command_delivered_twice_grants_once(harness: Harness) -> None:
    await harness.message(7, "/start")
    update = _command_update(900, 77, "/grant 7 premium1 30")
    await harness.dispatcher.feed_update(harness.bot, update)
    await asyncio.sleep(0.01)  # a later re-delivery: a new moment, the same message
    await harness.dispatcher.feed_update(harness.bot, update)
    assert 29.9 < _days_left(harness, 7, "premium1") <= 30
    assert sum("Вам открыт тариф" in t for t in harness.session.texts_to(7)) == 1
    # Two different /grant messages are two grants.
    await harness.dispatcher.feed_update(
        harness.bot, _command_update(901, 78, "/grant 7 premium1 30")
    )
    assert 59.9 < _days_left(harness, 7, "premium1") <= 60


# Pending payments -----------------------------------------------------------------------
def _last_keyboard(harness: Harness) -> InlineKeyboardMarkup:
    for call in reversed(harness.session.calls):
        if (
            isinstance(call, SendMessage | EditMessageText)
            and call.chat_id == ADMIN
            and isinstance(call.reply_markup, InlineKeyboardMarkup)
        ):
            return call.reply_markup
    raise AssertionError("no keyboard sent to the admin")


async def test_pending_list_offers_confirm_for_sbp_only(harness: Harness) -> None:
    payments = harness.services.payments
    yoomoney = await payments.open_invoice(7, "premium1", "yoomoney")
    stars = await payments.open_invoice(8, "ai_group", "stars")
    sbp = await payments.open_invoice(9, "premium1", "sbp")
    await harness.press(ADMIN, AdminMenu(section="payments").pack())
    buttons = [
        AdminPayment.unpack(button.callback_data)
        for row in _last_keyboard(harness).inline_keyboard
        for button in row
        if button.callback_data and button.callback_data.startswith(AdminPayment.__prefix__)
    ]
    assert {(b.action, b.payment_id) for b in buttons} == {
        ("confirm", sbp.id),
        ("reject", sbp.id),
    }
    section = harness.session.texts_to(ADMIN)[-1]
    # None of them is a request a manager must decide yet: all three wait for their user.
    assert "Ждут пользователя (счёт выставлен, оплаты ещё нет): 3" in section
    assert all(payment.id not in section for payment in (yoomoney, stars))


def _not_sbp(payment_id: str, method: str) -> str:
    return get_texts("ru")("admin_confirm_not_sbp", payment_id=payment_id, method=method)


async def test_confirm_refuses_unpaid_yoomoney_and_stars(harness: Harness) -> None:
    payments = harness.services.payments
    yoomoney = await payments.open_invoice(7, "premium1", "yoomoney")
    stars = await payments.open_invoice(8, "ai_group", "stars")
    sbp = await payments.open_invoice(9, "premium1", "sbp")
    await harness.message(ADMIN, f"/confirm {yoomoney.id}")
    assert harness.session.texts_to(ADMIN)[-1] == _not_sbp(yoomoney.id, "yoomoney")
    await harness.press(ADMIN, AdminPayment(action="confirm", payment_id=stars.id).pack())
    assert harness.session.texts_to(ADMIN)[-1] == _not_sbp(stars.id, "stars")
    for refused in (yoomoney, stars):
        current = payments.get(refused.id)
        assert current is not None and current.status == "pending"
    assert harness.services.subscriptions.active_plans(7) == []
    assert harness.services.subscriptions.active_plans(8) == []
    await harness.message(ADMIN, f"/confirm {sbp.id}")
    assert "подтверждён" in harness.session.texts_to(ADMIN)[-1]
    confirmed = payments.get(sbp.id)
    assert confirmed is not None and confirmed.status == "paid"


async def test_confirm_still_takes_underpaid_yoomoney_money(harness: Harness) -> None:
    """README: money short of the price is not credited, and an admin may /confirm it."""
    payments = harness.services.payments
    underpaid = await payments.open_invoice(7, "premium1", "yoomoney")
    short = MoneyArrival("yoomoney", "op-short", 500.0, "RUB", underpaid.id)
    assert (await payments.accept(short, minimum_share=0.965)).partial is not None
    await harness.message(ADMIN, f"/confirm {underpaid.id}")
    assert "подтверждён" in harness.session.texts_to(ADMIN)[-1]
    confirmed = payments.get(underpaid.id)
    assert confirmed is not None and confirmed.status == "paid"
