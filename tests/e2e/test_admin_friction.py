"""The admin's side without friction (issue 18, item 9), through the real bot process:
the command menu in the admin's chat, the promo wizard checking each step as it comes,
what is typed during a step kept from the model, users found by name."""

from __future__ import annotations

from pathlib import Path

from edge.callbacks import AdminMenu, AdminPromo, AdminUser, PromoAct, Section, UserAct
from tests.e2e.conftest import ADMIN, StartBot, money_records
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

ANNA, ANNA_TOO = 5101, 5102


async def test_the_admin_menu_is_scoped_to_the_admins_chat(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot()
    admin_menu = [c["command"] for c in telegram.commands_for("chat", chat_id=ADMIN)]
    assert {"admin", "stats", "payments", "grant", "promo_new", "broadcast"} <= set(admin_menu)
    assert "start" in admin_menu and "help" in admin_menu  # the users' commands stay
    everyone = [c["command"] for c in telegram.commands_for()]
    assert "start" in everyone and "admin" not in everyone  # nobody else sees them
    described = {
        c["command"]: c["description"] for c in telegram.commands_for("chat", chat_id=ADMIN)
    }
    assert described["stats"] == "Статистика и график"


async def test_the_promo_wizard_checks_each_step_and_keeps_text_from_the_model(
    telegram: FakeTelegram, start_bot: StartBot, llm: FakeOpenAI, data_dir: Path
) -> None:
    await start_bot()
    telegram.user_message(ADMIN, "/promo_new SPRING premium1 30")
    await telegram.wait_for_message(ADMIN, "SPRING")
    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель")
    telegram.press(ADMIN, panel, AdminMenu(section=Section.PROMO))
    section = await telegram.wait_for_last(ADMIN, "Промокоды")
    telegram.press(ADMIN, section, AdminPromo(action=PromoAct.NEW))
    step1 = await telegram.wait_for_message(ADMIN, "Шаг 1/5")

    # An existing code is refused at step 1 (it was refused only after step 5).
    telegram.user_message(ADMIN, "spring")
    refused = await telegram.wait_for_message(ADMIN, "уже существует", after=step1.message_id)
    assert not any("Шаг 2/5" in m.text for m in telegram.messages(ADMIN))
    telegram.user_message(ADMIN, "summer")
    step2 = await telegram.wait_for_message(ADMIN, "Шаг 2/5", after=refused.message_id)

    # Text typed while the step waits for a button is answered, never sent to a model.
    telegram.user_message(ADMIN, "Какой тариф лучше?")
    await telegram.wait_for_message(ADMIN, "модели он не передан", after=step2.message_id)
    assert llm.requests == []
    telegram.press(ADMIN, step2, AdminPromo(action=PromoAct.PLAN, code="gpt_pro"))
    step3 = await telegram.wait_for_message(ADMIN, "Шаг 3/5")
    telegram.press(ADMIN, step3, AdminPromo(action=PromoAct.DAYS, code="30"))  # a day button
    step4 = await telegram.wait_for_message(ADMIN, "Шаг 4/5")
    telegram.press(ADMIN, step4, AdminPromo(action=PromoAct.SKIP))
    step5 = await telegram.wait_for_message(ADMIN, "Шаг 5/5")
    telegram.user_message(ADMIN, "01.01.2001")
    past = await telegram.wait_for_message(ADMIN, "уже прошла", after=step5.message_id)
    telegram.user_message(ADMIN, "31.12.2030")  # as a Russian writes a date
    created = await telegram.wait_for_message(ADMIN, "SUMMER", after=past.message_id)
    assert "2030-12-31" in created.text or "31.12.2030" in created.text
    [summer] = [c for c in money_records(data_dir, "promo_codes") if c["code"] == "SUMMER"]
    assert summer["plan_id"] == "gpt_pro" and summer["days"] == 30
    assert summer["valid_until"] == "2030-12-31"
    assert llm.requests == []


async def test_users_are_found_by_name(telegram: FakeTelegram, start_bot: StartBot) -> None:
    await start_bot()
    for user_id, name in ((ANNA, "Анна"), (ANNA_TOO, "Анна-Мария"), (5103, "Борис")):
        telegram.user_message(user_id, "/start", first_name=name)
        await telegram.wait_for_message(user_id, "")
    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель")
    telegram.press(ADMIN, panel, AdminMenu(section=Section.USERS))
    ask = await telegram.wait_for_last(ADMIN, "имя")
    telegram.user_message(ADMIN, "анна")
    found = await telegram.wait_for_message(ADMIN, "2 пользователя", after=ask.message_id)
    labels = [button["text"] for button in found.buttons()]
    assert any(f"Анна ({ANNA})" == label for label in labels), labels
    telegram.press(ADMIN, found, AdminUser(action=UserAct.CARD, user_id=ANNA_TOO))
    card = await telegram.wait_for_message(ADMIN, "Пользователь", after=found.message_id)
    assert str(ANNA_TOO) in card.text
    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель", after=card.message_id)
    telegram.press(ADMIN, panel, AdminMenu(section=Section.USERS))
    ask = await telegram.wait_for_last(ADMIN, "имя")
    telegram.user_message(ADMIN, "Борис")  # one match: the card at once
    card = await telegram.wait_for_message(ADMIN, "Пользователь", after=ask.message_id)
    assert "5103" in card.text
