"""Fair use through the real bot: daily quotas and flood control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.conftest import ROOT, StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 1101


def small_quota_catalog(tmp_path: Path) -> Path:
    """The shipped catalog with 3 free requests and 3000 free characters a day."""
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    text = text.replace("free_daily_requests = 30", "free_daily_requests = 3")
    text = text.replace("free_daily_chars = 60000", "free_daily_chars = 3000")
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_free_requests_of_the_day_run_out_with_no_model_call(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(small_quota_catalog(tmp_path))})
    for number in range(3):
        telegram.user_message(USER, f"вопрос {number}")
        await telegram.wait_for_message(USER, f"Echo: вопрос {number}")
        telegram.user_message(USER, "/new")  # short memory: only the requests count
        await telegram.wait_for_message(USER, "новый диалог", after=telegram.last_id(USER))
    telegram.user_message(USER, "четвёртый")
    refusal = await telegram.wait_for_message(USER, "закончились")
    assert "3 запроса" in refusal.text and "00:00" in refusal.text
    assert any("Тарифы" in b["text"] for b in refusal.buttons())
    assert len(llm.requests) == 3
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "дневные лимиты обновятся")
    assert "0 из 3 запросов" in profile.text


async def test_a_question_split_into_parts_counts_whole(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(small_quota_catalog(tmp_path))})
    telegram.user_message(USER, "а" * 900)  # 900 characters today
    await telegram.wait_for_message(USER, "Echo: ааа")
    # The second part resends the memory (900 + the 906-character answer): 900 + 2706 is
    # over the 3000 of the day, though each message alone is short.
    telegram.user_message(USER, "б" * 900)
    refusal = await telegram.wait_for_message(USER, "объём текста")
    assert "3000 символов" in refusal.text
    assert len(llm.requests) == 1


async def test_a_script_gets_one_notice_and_others_are_served(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    for number in range(100):
        telegram.user_message(USER, f"спам {number}")
    notice = await telegram.wait_for_message(USER, "Слишком много сообщений")
    assert notice
    telegram.user_message(USER + 1, "я обычный пользователь")
    await telegram.wait_for_message(USER + 1, "Echo: я обычный пользователь")
    await asyncio.sleep(1.0)
    texts = [m.text for m in telegram.messages(USER)]
    assert sum("Слишком много" in text for text in texts) == 1
    assert sum("В очереди уже" in text for text in texts) <= 1

    # In the cooldown other messages are dropped, but /cancel still works.
    before = telegram.last_id(USER)
    telegram.user_message(USER, "еще спам")
    telegram.user_message(USER, "/cancel")
    replies = ("⏹ Ответ остановлен.", "Сейчас нечего отменять.")
    stopped = await telegram.wait_for(
        lambda: [m for m in telegram.messages(USER) if m.message_id > before and m.text in replies]
    )
    assert len(stopped) == 1
    await asyncio.sleep(0.5)
    assert not any("еще спам" in m.text for m in telegram.messages(USER))
