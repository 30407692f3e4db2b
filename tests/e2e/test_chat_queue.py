"""Every message answered: bursts queue and join, a split paste reaches the model whole."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import ADMIN, StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 601


async def test_a_burst_of_ten_messages_is_answered_in_order(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    llm.delay_first = 0.5
    for number in range(1, 11):
        telegram.user_message(USER, f"сообщение {number}")
    await telegram.wait_for(lambda: len(llm.requests) >= 2, timeout=15)
    await telegram.wait_for_message(USER, "сообщение 10", timeout=15)
    asked = "\n\n".join(llm.user_messages())
    positions = [
        asked.index(f"сообщение {n}\n") if n < 10 else asked.index("сообщение 10")
        for n in range(1, 11)
    ]
    assert positions == sorted(positions), asked  # every message reached the model, in order
    assert len(llm.requests) == 2  # the first alone, the nine that queued behind it together
    assert llm.user_messages()[1].startswith("сообщение 2\n\nсообщение 3")
    texts = [m.text for m in telegram.messages(USER)]
    assert not any("Ещё отвечаю" in text or "очереди" in text for text in texts)


async def test_a_split_paste_reaches_the_model_as_one_request(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(ADMIN, f"/grant {USER} premium1 30")  # lifts the free length limit
    await telegram.wait_for_message(USER, "Вам открыт тариф")
    paste = "".join(chr(ord("а") + i % 32) for i in range(6000))
    telegram.user_message(USER, paste[:4096])  # Telegram splits a long paste like this
    telegram.user_message(USER, paste[4096:])
    await telegram.wait_for(lambda: llm.requests, timeout=10)
    await asyncio.sleep(1.0)
    assert llm.user_messages() == [paste]


async def test_the_free_limit_counts_the_joined_paste(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(USER, "я" * 4096)
    telegram.user_message(USER, "я" * 100)
    refusal = await telegram.wait_for_message(USER, "4196")
    assert "1000" in refusal.text
    assert llm.requests == []


async def test_a_full_queue_is_refused_politely_and_cancel_drops_it(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    llm.hang_next = 1
    telegram.user_message(USER, "зависни")
    await telegram.wait_for(lambda: llm.requests)
    # A 25-message burst: 20 wait, one refusal for the rest (a longer one meets flood control).
    for number in range(25):
        telegram.user_message(USER, f"в очередь {number}")
    full = await telegram.wait_for_message(USER, "В очереди уже 20 сообщений")
    assert "/cancel" in full.text
    await asyncio.sleep(0.5)
    assert sum("В очереди уже" in m.text for m in telegram.messages(USER)) == 1
    telegram.user_message(USER, "/cancel")
    await telegram.wait_for_message(USER, "Ответ остановлен")
    telegram.user_message(USER, "снова")
    await telegram.wait_for_message(USER, "Echo: снова")
    assert not any("в очередь" in asked for asked in llm.user_messages())
