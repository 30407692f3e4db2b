"""Fair use through the real bot: daily quotas and flood control (a script is stopped
early, fast typing and split pastes pass whole)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.conftest import ADMIN, ROOT, StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 1101


def small_quota_catalog(tmp_path: Path, chars: int | None = None) -> Path:
    """The shipped catalog with 3 free requests a day (and `chars` free characters a day,
    which the shipped catalog does not bound)."""
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    assert "free_daily_requests = 30" in text
    day = "free_daily_requests = 3" + (f"\nfree_daily_chars = {chars}" if chars else "")
    text = text.replace("free_daily_requests = 30", day)
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
    await start_bot({"CATALOG_PATH": str(small_quota_catalog(tmp_path, chars=3000))})
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


async def send_spread(telegram: FakeTelegram, user: int, texts: list[str], seconds: float) -> None:
    """The texts from one user, evenly over `seconds` (as a script or fast typing)."""
    for text in texts:
        telegram.user_message(user, text)
        await asyncio.sleep(seconds / len(texts))


async def test_sixty_messages_in_a_second_get_few_model_calls_and_replies(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    await send_spread(telegram, USER, [f"скрипт {n}" for n in range(60)], 1.0)
    await telegram.wait_idle(USER, quiet=1.5, timeout=30)
    texts = [m.text for m in telegram.messages(USER)]
    assert sum("Слишком много" in text for text in texts) == 1
    # Before: 30 model calls and 32 messages back (the bucket let 30 through).
    assert len(llm.requests) <= 20, f"{len(llm.requests)} model calls"
    assert len(texts) <= 25, f"{len(texts)} messages back"


async def test_ten_messages_typed_fast_all_reach_the_model(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    sent = [f"быстро {n}" for n in range(10)]
    await send_spread(telegram, USER, sent, 1.0)
    await telegram.wait_idle(USER, quiet=1.5, timeout=30)
    asked = "\n\n".join(llm.user_messages())
    assert all(text in asked for text in sent), asked
    texts = [m.text for m in telegram.messages(USER)]
    assert not any("Слишком много" in text or "В очереди" in text for text in texts)


async def test_a_paste_split_in_ten_reaches_the_model_whole(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(ADMIN, f"/grant {USER} premium1 30")  # lifts the free length limit
    await telegram.wait_for_message(USER, "Вам открыт тариф")
    paste = "".join(chr(ord("а") + i % 32) for i in range(9 * 4096 + 1500))
    for start in range(0, len(paste), 4096):  # as Telegram splits a long paste
        telegram.user_message(USER, paste[start : start + 4096])
    await telegram.wait_for(lambda: llm.requests, timeout=10)
    await telegram.wait_idle(USER, quiet=1.5, timeout=30)
    assert llm.user_messages() == [paste]
    texts = [m.text for m in telegram.messages(USER)]
    assert not any("Слишком много" in text for text in texts)
