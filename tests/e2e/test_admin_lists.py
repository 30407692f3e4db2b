"""Long admin lists and out-of-range admin input, through the real bot process.

The Bot API emulator refuses a text over 4096 characters or with broken HTML, as
Telegram does; a list that grows past one message must arrive whole, totals included.
"""

from __future__ import annotations

from pathlib import Path

from edge.callbacks import AdminMenu, AdminPromo, PayMethod, PromoAct, Section
from tests.e2e.conftest import ADMIN, StartBot, money_records
from tests.e2e.test_payments import buy
from tests.stubs.telegram_server import FakeTelegram, SentMessage

FAILURE = "Что-то пошло не так"
BUYERS = range(6100, 6124)  # each opens a Stars invoice; the first half pay it
STRANGERS = range(6200, 6220)  # each pays Stars for no open invoice


def charge_id(user_id: int) -> str:
    """As long as Telegram's own charge ids (about a hundred characters)."""
    return f"stx{user_id}" + "Qz7_Lp9-" * 12


def since(telegram: FakeTelegram, chat_id: int, after: int) -> list[SentMessage]:
    return [m for m in telegram.messages(chat_id) if m.message_id > after]


async def answer_to(telegram: FakeTelegram, command: str, last_line: str) -> list[SentMessage]:
    """The admin's messages answering `command`, once one of them contains `last_line`."""
    after = telegram.last_id(ADMIN)
    telegram.user_message(ADMIN, command)
    await telegram.wait_for_message(ADMIN, last_line, after=after)
    await telegram.wait_idle(ADMIN, quiet=0.3)
    return since(telegram, ADMIN, after)


async def test_payments_past_one_message_arrive_whole_with_the_totals(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    paid = BUYERS[: len(BUYERS) // 2]
    invoices = []
    for user in BUYERS:
        invoice = await buy(telegram, user, "power_group", PayMethod.STARS)
        invoices.append(invoice.extra["payload"])
        if user in paid:
            telegram.successful_payment(user, invoices[-1], 580, charge_id(user))
            await telegram.wait_for_message(user, "Оплата получена")
    for user in STRANGERS:
        telegram.successful_payment(user, f"gone-{user}", 50, charge_id(user))
    await telegram.wait_for(lambda: len(money_records(data_dir, "unmatched_money")) == 20)

    messages = await answer_to(telegram, "/payments", "Итого оплачено")
    text = "\n".join(m.text for m in messages)
    assert FAILURE not in text
    assert len(text) > 4096 and len(messages) >= 2  # it did not fit one message
    assert all(f"stars:{charge_id(user)}" in text for user in STRANGERS)  # every one, whole
    assert all(payment_id in text for payment_id in invoices)  # paid and pending
    assert "Не зачислено (деньги пришли, но не к открытому счёту): 20" in text
    assert "Итого оплачено: 0\u00a0₽ и 6\u00a0960\u00a0⭐ (12 платежей)" in text

    # The panel's screen keeps its totals and its buttons.
    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель", after=messages[-1].message_id)
    telegram.press(ADMIN, panel, AdminMenu(section=Section.PAYMENTS))
    section = await telegram.wait_for_last(
        ADMIN, "Итого оплачено: 0\u00a0₽ и 6\u00a0960\u00a0⭐ (12 платежей)"
    )
    assert section.has_button_for(AdminMenu(section=Section.EXPORT))
    assert section.has_button_for(AdminMenu(section=Section.MAIN))


CODES = [f"SPRING_{n:02}_" + "Q" * 22 for n in range(45)]  # 32 characters, the longest


async def test_promo_codes_past_one_message_arrive_whole_with_the_totals(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot()
    for code in CODES:
        await answer_to(telegram, f"/promo_new {code} premium1 3660 1000000 2031-12-31", code)
    messages = await answer_to(telegram, "/promo_list", "Всего: 45 кодов")
    text = "\n".join(m.text for m in messages)
    assert FAILURE not in text and len(text) > 4096 and len(messages) >= 2
    assert all(f"{code} — Premium 1, 3660 дней" in text for code in CODES)
    assert messages[-1].text.endswith("Всего: 45 кодов, активаций: 0")

    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель", after=messages[-1].message_id)
    telegram.press(ADMIN, panel, AdminMenu(section=Section.PROMO))
    section = await telegram.wait_for_last(ADMIN, "Всего: 45 кодов, активаций: 0")
    assert "более ранние не показаны: 30, весь список — /promo_list" in section.text
    assert all(code in section.text for code in CODES[-15:])
    assert section.has_button_for(AdminPromo(action=PromoAct.DELETE, code=CODES[-1]))
    assert section.has_button_for(AdminPromo(action=PromoAct.NEW))


USER = 6300


async def test_days_beyond_ten_years_are_refused_and_change_nothing(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    telegram.user_message(USER, "/start")
    await telegram.wait_for_message(USER, "Привет")
    for command, refusal in (
        (f"/grant {USER} premium1 999999999", "Срок — от 1 до 3660 дней. Ничего не изменено."),
        (f"/grant {USER} premium1 3661", "Срок — от 1 до 3660 дней. Ничего не изменено."),
        ("/grant 99999999999999999999 premium1 30", "Такого ID в Telegram не бывает."),
        (f"/grant {USER} premium1 ²", "Формат: /grant USER_ID PLAN DAYS"),
        ("/promo_new LONG premium1 999999999", "Срок — от 1 до 3660 дней."),
        (
            "/promo_new MANY premium1 30 99999999999999999999",
            "Активаций — от 1 до 1\u00a0000\u00a0000.",
        ),
    ):
        answers = [m.text for m in await answer_to(telegram, command, "")]
        assert len(answers) == 1 and refusal in answers[0], (command, answers)
    assert money_records(data_dir, "subscriptions") == []
    assert money_records(data_dir, "promo_codes") == []
    for command, shown in (("/plans", "Тарифы"), ("/profile", "Профиль")):
        telegram.user_message(USER, command)
        answer = await telegram.wait_for_message(USER, after=telegram.last_id(USER))
        assert shown in answer.text and FAILURE not in answer.text

    (granted,) = await answer_to(telegram, f"/grant {USER} premium1 3660", "")
    assert "3660 дней" in granted.text
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Профиль", after=telegram.last_id(USER))
    assert "Premium 1" in profile.text
