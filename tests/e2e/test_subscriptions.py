"""Plans, promo codes and admin grants, through the real bot process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.callbacks import EnterPromo, ShowPlans
from tests.e2e.conftest import ADMIN, StartBot, model_choice, money_records
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 777
OTHER = 778


async def choose_model(telegram: FakeTelegram, user: int, name: str) -> str:
    telegram.user_message(user, "/model")
    menu = await telegram.wait_for_message(user, "Выберите модель", after=telegram.last_id(user))
    telegram.press(user, menu, model_choice(name))
    await telegram.wait_idle(user, quiet=0.3)
    return telegram.messages(user)[-1].text


async def ask(telegram: FakeTelegram, user: int, text: str) -> str:
    after = telegram.last_id(user)
    telegram.user_message(user, text)
    reply = await telegram.wait_for_message(user, after=after)
    await telegram.wait_idle(user, quiet=0.3)
    return telegram.messages(user)[-1].text if reply else ""


async def test_promo_opens_exactly_its_plan(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(ADMIN, "/promo_new SPRING ai_group 7 2")
    await telegram.wait_for_message(ADMIN, "SPRING")

    assert "доступна по подписке" in await choose_model(telegram, USER, "DeepSeek")
    telegram.user_message(USER, "/promo spring")
    ok = await telegram.wait_for_message(USER, "Промокод активирован")
    assert "AI Group" in ok.text and "DeepSeek, Qwen3, Gemini 2.0 Flash" in ok.text

    assert "Сейчас: DeepSeek" in await choose_model(telegram, USER, "DeepSeek")
    assert "Echo: вопрос" in await ask(telegram, USER, "вопрос")
    assert llm.requests[-1]["model"] == "deepseek-chat"
    assert "доступна по подписке" in await choose_model(telegram, USER, "Grok 3")

    # Once per user; the unknown code gets no hints; /profile shows the plan.
    telegram.user_message(USER, "/promo SPRING")
    await telegram.wait_for_message(USER, "уже активировали")
    telegram.user_message(USER, "/promo SPRINGG")
    unknown = await telegram.wait_for_message(USER, "Такого промокода нет")
    assert "SPRING " not in unknown.text
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Подписки")
    assert "AI Group" in profile.text and "МСК" in profile.text

    # A used-up code tells its reason; the button flow asks for the code.
    telegram.user_message(OTHER, "/promo spring")
    await telegram.wait_for_message(OTHER, "Промокод активирован")
    telegram.user_message(OTHER + 1, "/start")
    start = await telegram.wait_for_message(OTHER + 1, "Привет")
    telegram.press(OTHER + 1, start, ShowPlans())
    plans = await telegram.wait_for_message(OTHER + 1, "Тарифы", after=start.message_id)
    telegram.press(OTHER + 1, plans, EnterPromo())
    await telegram.wait_for_message(OTHER + 1, "Отправьте промокод")
    telegram.user_message(OTHER + 1, "spring")
    await telegram.wait_for_message(OTHER + 1, "максимальное число раз")


async def test_admin_grant_and_revoke_and_non_admin_guard(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    telegram.user_message(USER, "/start")
    await telegram.wait_for_message(USER, "Привет")

    # A non-admin gets the unknown-command answer and nothing changes.
    for command in (
        "/grant 777 power_group 30",
        "/revoke 777",
        "/promo_new X1X power_group 5",
        "/promo_list",
        "/promo_del X1X",
    ):
        after = telegram.last_id(USER)
        telegram.user_message(USER, command)
        reply = await telegram.wait_for_message(USER, after=after)
        assert "Не знаю такой команды" in reply.text, command
    assert "доступна по подписке" in await choose_model(telegram, USER, "Sonar")

    telegram.user_message(ADMIN, "/grant 777 gold 30")
    bad = await telegram.wait_for_message(ADMIN, "Нет тарифа")
    assert "premium1, ai_group, power_group, gpt_pro" in bad.text
    telegram.user_message(ADMIN, "/grant 777 power_group")
    await telegram.wait_for_message(ADMIN, "Формат: /grant")
    telegram.user_message(ADMIN, "/grant 777 power_group 30")
    await telegram.wait_for_message(ADMIN, "выдан")
    await telegram.wait_for_message(USER, "Вам открыт тариф")
    assert "Сейчас: Sonar" in await choose_model(telegram, USER, "Sonar")
    assert "Echo: поиск" in await ask(telegram, USER, "поиск")
    assert llm.requests[-1]["model"] == "sonar"

    subscriptions = money_records(data_dir, "subscriptions")
    (record,) = subscriptions
    (period,) = record["periods"]
    assert round((period["end"] - period["start"]) / 86400) == 30
    assert period["source"].startswith(f"admin:{ADMIN}:")

    telegram.user_message(ADMIN, "/revoke 777")
    await telegram.wait_for_message(ADMIN, "отключено")
    await telegram.wait_for_message(USER, "отключена администратором")
    before = len(llm.requests)
    refusal = await ask(telegram, USER, "ещё поиск")
    assert "доступна по подписке" in refusal
    assert len(llm.requests) == before  # no model call after the revoke


async def test_concurrent_activations_and_restart(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    bot = await start_bot()
    telegram.user_message(ADMIN, "/promo_new RUSH premium1 30 10")
    await telegram.wait_for_message(ADMIN, "RUSH")
    users = list(range(2000, 2100))
    for user in users:
        telegram.user_message(user, "/promo RUSH")
        telegram.user_message(user, "/promo rush")  # a double tap
    await telegram.wait_for(
        lambda: sum(1 for u in users for m in telegram.messages(u)) >= 2 * len(users), timeout=30
    )
    activated = [
        u for u in users if any("Промокод активирован" in m.text for m in telegram.messages(u))
    ]
    assert len(activated) == 10
    for user in activated:
        assert sum("Промокод активирован" in m.text for m in telegram.messages(user)) == 1

    bot.kill()
    await bot.wait()
    activations = money_records(data_dir, "promo_activations")
    assert sorted(a["user_id"] for a in activations) == sorted(activated)
    await start_bot()
    telegram.user_message(activated[0], "/profile")
    await telegram.wait_for_message(activated[0], "Premium 1")
    await asyncio.sleep(0)


async def test_expiry_reminder_is_sent_once_across_restarts(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    env: dict[str, str | None] = {"REMINDER_INTERVAL": "0.2"}
    bot = await start_bot(env)
    telegram.user_message(USER, "/start", language_code="en")
    await telegram.wait_for_message(USER, "Hi")
    telegram.user_message(ADMIN, "/grant 777 premium1 1")
    await telegram.wait_for_message(ADMIN, "выдан")
    reminder = await telegram.wait_for_message(USER, "ends tomorrow")
    assert "Premium 1" in reminder.text
    bot.terminate()
    assert await bot.wait(10) == 0
    await start_bot(env)
    await asyncio.sleep(1.0)  # several reminder rounds after the restart
    assert sum("ends tomorrow" in m.text for m in telegram.messages(USER)) == 1
    assert not any("ends in 3 days" in m.text for m in telegram.messages(USER))
