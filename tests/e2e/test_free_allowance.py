"""The free allowance through the real bot: the requests a day users are told are what
stops them (ordinary questions in one conversation do not run out a hidden character
count), a notice when three are left, and a refusal whose buttons go on with the other
free model, start a new conversation or show the plans from the cheapest price."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.callbacks import ChatsAct, ChatsMenu, FreeModel, ShowPlans
from tests.e2e.conftest import ROOT, StartBot
from tests.stubs.openai_server import FakeOpenAI, echo_reply
from tests.stubs.telegram_server import FakeTelegram

USER = 1401


def ordinary_answer(body: dict[str, Any]) -> str:
    """An ordinary answer: about 1500 characters."""
    return echo_reply(body) + "\n\n" + "Обычный подробный ответ модели. " * 47


def quota_catalog(tmp_path: Path, requests: int) -> Path:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    text = text.replace("free_daily_requests = 30", f"free_daily_requests = {requests}")
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_ten_ordinary_questions_in_one_conversation_leave_twenty_of_thirty(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    llm.reply = ordinary_answer
    llm.chunk_size = 400
    await start_bot()
    for number in range(10):
        telegram.user_message(USER, f"Обычный вопрос номер {number}: как мне быть дальше?")
        await telegram.wait_for_message(USER, f"Echo: Обычный вопрос номер {number}")
        await telegram.wait_idle(USER, quiet=0.2)
    texts = [message.text for message in telegram.messages(USER)]
    assert not any("закончились" in text or "исчерпан" in text for text in texts)
    assert len(llm.requests) == 10
    # The memory sent with a free request is capped: the last request carried at most
    # free_memory_chars (12 000) of it, not the whole conversation (~16 000).
    last = llm.requests[-1]["messages"]
    memory = sum(len(str(m["content"])) for m in last[:-1] if m["role"] != "system")
    assert memory <= 12_000
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Профиль")
    assert "GPT-4.1 Nano: 20 из 30 запросов" in profile.text
    left = profile.text.split("Осталось")[1].split("\n\n")[0]
    assert "символ" not in left, left  # no count of characters users cannot follow


async def test_three_left_then_the_refusal_offers_the_other_free_model_a_new_chat_and_plans(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(quota_catalog(tmp_path, 5))})
    for number in range(5):
        telegram.user_message(USER, f"вопрос {number}")
        await telegram.wait_for_message(USER, f"Echo: вопрос {number}")
        await telegram.wait_idle(USER, quiet=0.3)
    texts = [message.text for message in telegram.messages(USER)]
    notices = [text for text in texts if text.startswith("💡 Осталось")]
    assert len(notices) == 1, texts  # once, after the second answer: three left
    assert "3 бесплатных запроса к GPT-4.1 Nano" in notices[0]
    assert "у GPT-5 Nano — ещё 5" in notices[0]
    assert texts.index(notices[0]) == texts.index("Echo: вопрос 1") + 1

    telegram.user_message(USER, "шестой")
    refusal = await telegram.wait_for_message(USER, "закончились")
    assert "У GPT-5 Nano сегодня ещё 5 бесплатных запросов" in refusal.text
    labels = [button["text"] for button in refusal.buttons()]
    assert labels == [
        "➡️ Продолжить с GPT-5 Nano (ещё 5)",
        "➕ Новый диалог",
        "💎 Тарифы от 420\u00a0₽",
    ]
    assert len(llm.requests) == 5

    # Plans from the refusal.
    before = telegram.last_id(USER)
    telegram.press(USER, refusal, ShowPlans())
    await telegram.wait_for_message(USER, "Тарифы", after=before)
    # A new conversation from the refusal (the alert says so).
    query = telegram.press(USER, refusal, ChatsMenu(action=ChatsAct.NEW))
    answer = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert "новый диалог" in str(answer.get("text", "")).lower()
    # Going on with the other free model: the refusal says so and the next question goes
    # to GPT-5 Nano.
    refusal = await telegram.wait_for_message(USER, "закончились")
    telegram.user_message(USER, "седьмой")
    refusal = await telegram.wait_for_message(USER, "закончились", after=refusal.message_id)
    telegram.press(USER, refusal, FreeModel(key="gpt-5-nano"))
    await telegram.wait_for_message(USER, "Теперь отвечает GPT-5 Nano")
    switched = await telegram.wait_for_message(USER, "сегодня ещё 5 запросов")
    assert switched.message_id == refusal.message_id and not switched.buttons()
    telegram.user_message(USER, "восьмой")
    await telegram.wait_for_message(USER, "Echo: восьмой")
    assert llm.requests[-1]["model"] == "gpt-5-nano"


async def test_the_refusal_without_another_free_model_left_offers_a_new_chat_and_plans(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(quota_catalog(tmp_path, 1))})
    telegram.user_message(USER, "первый")
    await telegram.wait_for_message(USER, "Echo: первый")
    telegram.user_message(USER, "второй")
    refusal = await telegram.wait_for_message(USER, "закончились")
    telegram.press(USER, refusal, FreeModel(key="gpt-5-nano"))
    await telegram.wait_for_message(USER, "Теперь отвечает GPT-5 Nano")
    telegram.user_message(USER, "третий")
    await telegram.wait_for_message(USER, "Echo: третий")
    telegram.user_message(USER, "четвёртый")
    last = await telegram.wait_for_message(USER, "к GPT-5 Nano на сегодня закончились")
    labels = [button["text"] for button in last.buttons()]
    assert labels == ["➕ Новый диалог", "💎 Тарифы от 420\u00a0₽"]
    assert "ещё" not in last.text  # no other free model to offer
