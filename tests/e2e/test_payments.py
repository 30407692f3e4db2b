"""Money through the real bot process: YooMoney, SBP via a manager, Telegram Stars."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from edge.callbacks import (
    AdminPayment,
    BuyPlan,
    CheckPayment,
    PayAgain,
    PaymentAct,
    PayMethod,
    PayWith,
    SbpAct,
    SbpPaid,
    SbpStep,
    Support,
)
from tests.e2e.conftest import ADMIN, StartBot, free_port, money_records
from tests.factories import callback_prefix
from tests.stubs.telegram_server import FakeTelegram, SentMessage
from tests.stubs.yoomoney_server import FakeYooMoney, notification_fields, send_notification

USER = 900


def yoomoney_env(yoomoney: FakeYooMoney, interval: str = "0.3") -> dict[str, str | None]:
    return {
        "YMONEY_TOKEN": yoomoney.token,
        "YMONEY_WALLET": "4100111222333",
        "YMONEY_API_URL": yoomoney.base_url,
        "PAYMENT_CHECK_INTERVAL": interval,
    }


async def buy(telegram: FakeTelegram, user: int, plan_id: str, method: PayMethod) -> SentMessage:
    """/plans -> plan -> method, each in place of the plans message; returns what the
    method shows: that message (YooMoney, SBP) or the Stars invoice, a message of its own.
    With YooMoney on, the plan's button shows its invoice at once (the others below it)."""
    telegram.user_message(user, "/plans")
    plans = await telegram.wait_for_message(user, "Тарифы", after=telegram.last_id(user))
    telegram.press(user, plans, BuyPlan(plan_id=plan_id))
    await telegram.wait_for(lambda: plans.edits >= 1)
    wanted = PayWith(plan_id=plan_id, method=method)
    if method == PayMethod.YOOMONEY and not plans.has_button_for(wanted):
        return plans  # already its invoice
    edits = plans.edits
    telegram.press(user, plans, wanted)
    return await telegram.wait_for(
        lambda: (
            next((m for m in telegram.messages(user) if m.message_id > plans.message_id), None)
            or (plans if plans.edits > edits else None)
        )
    )


def label_of(message: SentMessage) -> str:
    url = next(b["url"] for b in message.buttons() if "url" in b)
    query = parse_qs(urlparse(url).query)
    assert query["receiver"] == ["4100111222333"] and query["sum"] == ["675.00"]
    return str(query["label"][0])


def periods(data_dir: Path, user: int) -> list[dict[str, object]]:
    records = money_records(data_dir, "subscriptions")
    return [p for r in records if r["user_id"] == user for p in r["periods"]]


def payments_file(data_dir: Path) -> dict[str, dict[str, object]]:
    return {p["id"]: p for p in money_records(data_dir, "payments")}


async def test_yoomoney_poller_credits_once_and_ignores_underpayment(
    telegram: FakeTelegram, yoomoney: FakeYooMoney, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot(yoomoney_env(yoomoney))
    invoice = await buy(telegram, USER, "premium1", PayMethod.YOOMONEY)
    label = label_of(invoice)
    assert payments_file(data_dir)[label]["status"] == "pending"

    # Too little money arrives: not credited, admins are told once.
    yoomoney.add("op-small", 600.00, label)
    await telegram.wait_for_message(ADMIN, "not credited")
    assert payments_file(data_dir)[label]["status"] == "pending"
    assert periods(data_dir, USER) == []

    # The full amount minus YooMoney's commission arrives, and is then seen again.
    yoomoney.add("op-full", 654.75, label)
    await telegram.wait_for_message(USER, "Оплата получена")
    await telegram.wait_for_message(ADMIN, "Оплата ЮMoney")
    # Another user's pending invoice keeps the poller asking, so the same operations
    # (and a second one with the paid label) are seen again and again.
    await buy(telegram, USER + 1, "ai_group", PayMethod.YOOMONEY)
    yoomoney.add("op-full-again", 675.00, label)
    requests_before = len(yoomoney.requests)
    await telegram.wait_for(lambda: len(yoomoney.requests) >= requests_before + 3)
    assert sum("Оплата получена" in m.text for m in telegram.messages(USER)) == 1
    assert len(periods(data_dir, USER)) == 1
    assert payments_file(data_dir)[label]["status"] == "paid"
    # One history request per check for all payments, never one per payment.
    assert all(r.get("type") == "deposition" and "label" not in r for r in yoomoney.requests)

    telegram.user_message(USER, "/model")
    menu = await telegram.wait_for_message(USER, "Выберите модель", after=telegram.last_id(USER))
    assert "GPT-4o Mini" in [b["text"] for b in menu.buttons()]


async def test_check_button_and_restart_keep_exactly_one_period(
    telegram: FakeTelegram, yoomoney: FakeYooMoney, start_bot: StartBot, data_dir: Path
) -> None:
    bot = await start_bot(yoomoney_env(yoomoney, interval="3600"))
    invoice = await buy(telegram, USER, "premium1", PayMethod.YOOMONEY)
    label = label_of(invoice)
    check = invoice.data_starting(callback_prefix(CheckPayment))
    query = telegram.press_button(USER, invoice.message_id, check)
    answer = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert "пока не поступила" in answer["text"]
    assert yoomoney.requests[-1]["label"] == label

    yoomoney.add("op-btn", 675.00, label)
    query = telegram.press_button(USER, invoice.message_id, check)
    answer = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert "15 секунд" in answer["text"]  # rate-limited per user

    bot.kill()  # a restart loses no money and grants nothing twice
    await bot.wait()
    await start_bot(yoomoney_env(yoomoney, interval="0.3"))
    await telegram.wait_for_message(USER, "Оплата получена")
    await asyncio.sleep(1.0)  # several more poller rounds
    assert len(periods(data_dir, USER)) == 1
    assert sum("Оплата получена" in m.text for m in telegram.messages(USER)) == 1


async def test_notifications_verify_hash_and_credit_once(
    telegram: FakeTelegram, yoomoney: FakeYooMoney, start_bot: StartBot, data_dir: Path
) -> None:
    port = free_port()
    env = yoomoney_env(yoomoney, interval="3600") | {
        "YMONEY_NOTIFICATION_SECRET": "n0tify-s3cret",
        "NOTIFICATION_HOST": "127.0.0.1",
        "NOTIFICATION_PORT": str(port),
    }
    await start_bot(env)
    invoice = await buy(telegram, USER, "premium1", PayMethod.YOOMONEY)
    label = label_of(invoice)
    url = f"http://127.0.0.1:{port}/yoomoney/notify"

    forged = notification_fields("wrong-secret", operation_id="n1", amount="675.00", label=label)
    assert await send_notification(url, forged) == 400
    unaccepted = notification_fields(
        "n0tify-s3cret", operation_id="n2", amount="675.00", label=label, unaccepted=True
    )
    assert await send_notification(url, unaccepted) == 200
    assert payments_file(data_dir)[label]["status"] == "pending"

    good = notification_fields("n0tify-s3cret", operation_id="n3", amount="654.75", label=label)
    assert await send_notification(url, good) == 200
    assert await send_notification(url, good) == 200  # YooMoney retries
    await telegram.wait_for_message(USER, "Оплата получена")
    assert payments_file(data_dir)[label]["status"] == "paid"
    assert len(periods(data_dir, USER)) == 1
    assert sum("Оплата получена" in m.text for m in telegram.messages(USER)) == 1
    assert "n0tify-s3cret" not in (data_dir.parent / "bot-0.log").read_text()


async def test_sbp_confirm_reject_and_forged_admin_button(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot({"SBP_DETAILS": "Т-Банк +7 900 000-00-00, Иван И."})
    request = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    assert "+7 900 000-00-00" in request.text and "1\u00a0199" in request.text
    payment_id = next(iter(payments_file(data_dir)))
    number = str(payments_file(data_dir)[payment_id]["number"])
    assert number in request.text and payment_id not in request.text  # the id stays internal

    telegram.user_photo(USER, caption="чек")
    question = await telegram.wait_for_message(USER, "Это чек об оплате")
    telegram.press(
        USER, question, question.data_starting(callback_prefix(SbpStep, action=SbpAct.YES))
    )
    await telegram.wait_for_message(USER, "передан менеджеру")
    admin_request = await telegram.wait_for_message(ADMIN, "СБП: проверьте оплату")
    assert payment_id in admin_request.text and "1\u00a0199" in admin_request.text
    assert number in admin_request.text
    assert any(m.kind == "copy" for m in telegram.messages(ADMIN))  # the receipt itself
    confirm = AdminPayment(action=PaymentAct.CONFIRM, payment_id=payment_id).pack()

    # The same callback data pressed by a non-admin does nothing.
    forged = telegram.press_button(USER, request.message_id, confirm)
    await telegram.wait_for(lambda: telegram.callback_answer(forged) is not None)
    assert payments_file(data_dir)[payment_id]["status"] == "pending"
    assert periods(data_dir, USER) == []

    telegram.press_button(ADMIN, admin_request.message_id, confirm)
    telegram.press_button(ADMIN, admin_request.message_id, confirm)  # a double tap
    await telegram.wait_for_message(USER, "Оплата получена")
    await telegram.wait_for_message(ADMIN, "подтверждён")
    await telegram.wait_idle(USER, quiet=0.3)
    assert payments_file(data_dir)[payment_id]["status"] == "paid"
    assert len(periods(data_dir, USER)) == 1

    # A second request is rejected with a typed reason.
    second = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    second_id = next(p for p in payments_file(data_dir) if p != payment_id)
    telegram.press(USER, second, SbpPaid(payment_id=second_id))
    admin_request = await telegram.wait_for_message(ADMIN, second_id)
    telegram.press(
        ADMIN, admin_request, AdminPayment(action=PaymentAct.REJECT, payment_id=second_id)
    )
    await telegram.wait_for_message(ADMIN, "причину отказа")
    telegram.user_message(ADMIN, "перевод не найден")
    rejected = await telegram.wait_for_message(USER, "не подтвердил")
    assert "перевод не найден" in rejected.text and "ответьте" not in rejected.text
    assert rejected.has_button_for(PayAgain(plan_id="gpt_pro"))
    assert rejected.has_button_for(Support())
    assert payments_file(data_dir)[second_id]["status"] == "rejected"
    second_number = str(payments_file(data_dir)[second_id]["number"])
    assert second_number != number and second_number in rejected.text
    telegram.user_message(ADMIN, f"/confirm {second_number}")  # the short number works too
    await telegram.wait_for_message(ADMIN, "уже обработан")
    assert len(periods(data_dir, USER)) == 1

    # The old invoice's button now says what happened, in words, and what to do.
    telegram.press(USER, second, SbpPaid(payment_id=second_id))
    closed = await telegram.wait_for_message(USER, "отклонён", after=rejected.message_id)
    assert "rejected" not in closed.text and closed.has_button_for(PayAgain(plan_id="gpt_pro"))
    # Pay again: the plan's payment screen below the notice, which keeps its reason.
    telegram.press(USER, rejected, PayAgain(plan_id="gpt_pro"))
    again = await telegram.wait_for_message(USER, "GPT Pro", after=closed.message_id)
    assert again.has_button_for(PayWith(plan_id="gpt_pro", method=PayMethod.SBP))
    assert "перевод не найден" in rejected.text and rejected.edits == 0

    # By command: /reject (with the number) and /payments.
    await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    third_id = next(p for p in payments_file(data_dir) if p not in (payment_id, second_id))
    third_number = str(payments_file(data_dir)[third_id]["number"])
    telegram.user_message(ADMIN, f"/reject №{third_number}")
    await telegram.wait_for_message(ADMIN, "отклонён", after=telegram.last_id(ADMIN))
    assert payments_file(data_dir)[third_id]["status"] == "rejected"
    telegram.user_message(ADMIN, "/payments")
    summary = await telegram.wait_for_message(ADMIN, "Итого оплачено")
    assert "1\u00a0199\u00a0₽" in summary.text


async def test_stars_invoice_pre_checkout_payment_and_refund(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    invoice = await buy(telegram, USER, "power_group", PayMethod.STARS)
    assert invoice.kind == "invoice"
    assert invoice.extra["currency"] == "XTR" and invoice.extra["amount"] == 580
    payload = invoice.extra["payload"]

    wrong = telegram.pre_checkout(USER, payload, 1)
    await telegram.wait_for(lambda: telegram.pre_checkout_answers.get(wrong))
    assert telegram.pre_checkout_answers[wrong]["ok"] in (False, "false", "False")
    right = telegram.pre_checkout(USER, payload, 580)
    await telegram.wait_for(lambda: telegram.pre_checkout_answers.get(right))
    assert telegram.pre_checkout_answers[right]["ok"] in (True, "true", "True")

    telegram.successful_payment(USER, payload, 580, "charge-1")
    telegram.successful_payment(USER, payload, 580, "charge-1")  # delivered twice
    await telegram.wait_for_message(USER, "Оплата получена")
    await telegram.wait_idle(USER, quiet=0.3)
    assert sum("Оплата получена" in m.text for m in telegram.messages(USER)) == 1
    assert payments_file(data_dir)[payload]["charge_id"] == "charge-1"
    assert len(periods(data_dir, USER)) == 1

    telegram.user_message(USER, f"/refund {payload}")
    await telegram.wait_for_message(USER, "Не знаю такой команды")
    assert telegram.refunds == []
    telegram.user_message(ADMIN, f"/refund {payload}")
    await telegram.wait_for_message(ADMIN, "Stars возвращены")
    assert telegram.refunds[0]["telegram_payment_charge_id"] == "charge-1"
    assert payments_file(data_dir)[payload]["status"] == "refunded"
    await telegram.wait_for_message(USER, "возвращена")
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Профиль", after=telegram.last_id(USER))
    assert "Активных подписок нет" in profile.text
