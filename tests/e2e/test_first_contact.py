"""First contact through the real bot: the description and short description the empty
chat and the profile show, in both languages, and a /start that says what the bot is,
what is free, what it costs and what it understands, with buttons for the main places
and example questions that ask."""

from __future__ import annotations

from pathlib import Path

from edge.callbacks import Example, OpenScreen, Screen, ShowPlans, Support
from tests.e2e.conftest import StartBot
from tests.e2e.test_fair_use import small_quota_catalog
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 1301


async def test_the_description_and_short_description_are_set_in_both_languages(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot()
    await telegram.wait_for(lambda: len(telegram.short_descriptions) == 2)
    ru, en = telegram.descriptions[""], telegram.descriptions["en"]
    assert "30 запросов в день" in ru and "420\u00a0₽" in ru and "фото" in ru
    assert "30 requests a day" in en and "420 RUB" in en and "Photos" in en
    short_ru, short_en = telegram.short_descriptions[""], telegram.short_descriptions["en"]
    assert "30 запросов в день" in short_ru and "30 requests a day" in short_en
    assert all(len(text) <= 512 for text in (ru, en))
    assert all(len(text) <= 120 for text in (short_ru, short_en))


async def test_start_says_what_is_free_and_what_it_costs_with_the_main_places(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(USER, "/start", first_name="Анна")
    start = await telegram.wait_for_message(USER, "Привет, Анна")
    assert "Текущая модель" not in start.text  # no infrastructure talk
    assert "по 30 запросов в день к каждой" in start.text
    assert "GPT-4.1 Nano и GPT-5 Nano" in start.text
    assert "от 420\u00a0₽ за 30 дней" in start.text
    assert "фото, голосовые и файлы" in start.text
    for data in (
        OpenScreen(screen=Screen.MODELS),
        ShowPlans(),
        OpenScreen(screen=Screen.PROFILE),
        OpenScreen(screen=Screen.INVITE),
        Support(),
        Example(index=1),
        Example(index=2),
        Example(index=3),
    ):
        start.button_for(data)  # present

    # Each place opens from its button.
    for data, shown in (
        (OpenScreen(screen=Screen.MODELS), "модель"),
        (ShowPlans(), "Тарифы"),
        (OpenScreen(screen=Screen.PROFILE), "Профиль"),
        (OpenScreen(screen=Screen.INVITE), "Ваша личная ссылка"),
    ):
        before = telegram.last_id(USER)
        telegram.press(USER, start, data)
        await telegram.wait_for_message(USER, shown, after=before)

    # An example question is asked, shown as asked and answered by the model.
    before = telegram.last_id(USER)
    telegram.press(USER, start, Example(index=2))
    await telegram.wait_for_message(USER, "💡 Составь план тренировок", after=before)
    await telegram.wait_for_message(USER, "Echo: Составь план тренировок", after=before)
    assert llm.user_messages()[-1] == "Составь план тренировок на неделю для новичка"


async def test_start_in_english(telegram: FakeTelegram, start_bot: StartBot) -> None:
    await start_bot()
    telegram.user_message(USER, "/start", language_code="en", first_name="Ann")
    start = await telegram.wait_for_message(USER, "Hi, Ann")
    assert "GPT-4.1 Nano and GPT-5 Nano, 30 requests a day each" in start.text
    assert "plans from 420 RUB for 30 days" in start.text
    assert "photos, voice messages and files" in start.text
    assert any("Models" in button["text"] for button in start.buttons())


async def test_the_allowance_start_shows_is_the_one_that_refuses(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(small_quota_catalog(tmp_path))})
    telegram.user_message(USER, "/start")
    start = await telegram.wait_for_message(USER, "Привет")
    assert "по 3 запроса в день к каждой" in start.text
    telegram.user_message(USER, "/help")
    assert "по 3 запроса в день" in (await telegram.wait_for_message(USER, "Как пользоваться")).text
    for number in range(3):
        telegram.user_message(USER, f"вопрос {number}")
        await telegram.wait_for_message(USER, f"Echo: вопрос {number}")
    telegram.user_message(USER, "ещё вопрос")
    refusal = await telegram.wait_for_message(USER, "закончились")
    assert "3 запроса в день" in refusal.text
    assert len(llm.requests) == 3
