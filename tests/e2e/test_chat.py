"""The foundation, tried as a new user would: only through the Bot API emulator."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from edge.callbacks import BuyPlan, ModelChoice
from tests.e2e.conftest import StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 501


async def test_start_chat_memory_new_and_commands(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    assert {c["command"] for c in telegram.commands[""]} >= {"start", "model", "new", "help"}
    assert "en" in telegram.commands

    telegram.user_message(USER, "/start", first_name="Анна")
    greeting = await telegram.wait_for_message(USER, "Привет, Анна")
    assert "GPT-4.1 Nano" in greeting.text
    assert any("Тарифы" in b["text"] for b in greeting.buttons())

    telegram.user_message(USER, "Как дела?")
    answer = await telegram.wait_for_message(USER, "Echo: Как дела?", after=greeting.message_id)
    telegram.user_message(USER, "А погода?")
    await telegram.wait_for_message(USER, "Echo: А погода?", after=answer.message_id)
    messages = llm.requests[-1]["messages"]
    assert messages[0]["role"] == "system"  # the conversation's mode (the default assistant)
    history = [m["content"] for m in messages[1:]]
    assert history == ["Как дела?", "Echo: Как дела?", "А погода?"]
    assert llm.requests[-1]["model"] == "openai/gpt-4.1-nano"
    assert llm.requests[-1]["stream"] is True

    telegram.user_message(USER, "/new")
    forgot = await telegram.wait_for_message(USER, "новый диалог")
    telegram.user_message(USER, "Снова")
    await telegram.wait_for_message(USER, "Echo: Снова", after=forgot.message_id)
    asked = [m["content"] for m in llm.requests[-1]["messages"] if m["role"] != "system"]
    assert asked == ["Снова"]


async def test_english_user_gets_english(telegram: FakeTelegram, start_bot: StartBot) -> None:
    await start_bot()
    telegram.user_message(USER, "/help", language_code="en-US")
    await telegram.wait_for_message(USER, "How to use")


async def test_model_switch_and_premium_refusal(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(USER, "/model")
    menu = await telegram.wait_for_message(USER, "Выберите модель")
    labels = [b["text"] for b in menu.buttons()]
    assert "✅ GPT-4.1 Nano" in labels and "🔒 GPT-4o Mini" in labels and "GPT-5 Nano" in labels

    telegram.press(USER, menu, ModelChoice(key="gpt-5-nano"))
    await telegram.wait_for(
        lambda: "Сейчас: <b>GPT-5 Nano" in (telegram.messages(USER)[-1].html or "")
    )
    telegram.user_message(USER, "Привет")
    await telegram.wait_for_message(USER, "Echo: Привет")
    request = llm.requests[-1]
    assert request["model"] == "gpt-5-nano"
    assert "max_completion_tokens" in request and "max_tokens" not in request
    assert "temperature" not in request

    menu = telegram.messages(USER)[0]
    before = len(llm.requests)
    query = telegram.press(USER, menu, ModelChoice(key="gpt-4o-mini"))
    refusal = await telegram.wait_for_message(USER, "доступна по подписке")
    assert "Premium 1" in refusal.text and "GPT Pro" in refusal.text
    # The plans that open it, as buttons with prices, in place of the menu.
    assert refusal.message_id == menu.message_id
    assert refusal.has_button_for(BuyPlan(plan_id="premium1"))
    assert refusal.has_button_for(BuyPlan(plan_id="gpt_pro"))
    await telegram.wait_for(lambda: telegram.callback_answer(query) is not None)
    telegram.user_message(USER, "ещё вопрос")
    await telegram.wait_for_message(USER, "Echo: ещё вопрос")
    assert llm.requests[-1]["model"] == "gpt-5-nano"  # the switch was refused
    assert len(llm.requests) == before + 1


async def test_too_long_free_request_makes_no_model_call(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(USER, "я" * 1001)
    refusal = await telegram.wait_for_message(USER, "слишком длинный")
    assert "1001" in refusal.text and "1000" in refusal.text and "/plans" in refusal.text
    assert llm.requests == []


async def test_streamed_markdown_long_answer_and_edits(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    code = "\n".join(f"print({i})  # <{i}> & more" for i in range(300))
    answer = "Вот **код**:\n\n```python\n" + code + "\n```\n\n" + "Абзац текста. " * 400
    llm.reply = lambda _: answer
    llm.chunk_size = 200
    llm.delay_per_chunk = 0.01
    # The edit path (drafts: tests/e2e/test_drafts.py): the server has no drafts, and the
    # first words come after the first interval, so the bot tries a draft and learns that.
    telegram.drafts_supported = False
    llm.delay_first = 0.5
    await start_bot()
    telegram.user_message(USER, "покажи код")
    await telegram.wait_for(lambda: len(telegram.messages(USER)) >= 3, timeout=20)
    await telegram.wait_idle(USER, quiet=1.0)
    messages = telegram.messages(USER)
    assert all(len(m.text) <= 4096 for m in messages)
    shown = "".join(m.text for m in messages)
    assert "print(299)  # <299> & more" in shown and "print(0)" in shown
    assert "**" not in shown and "```" not in shown
    assert any("<b>код</b>" in (m.html or "") for m in messages)
    assert any(m.edits > 0 for m in messages), "the answer was not streamed"
    edits = telegram.calls("editMessageText")
    assert not any("not modified" in str(e) for e in edits)


async def test_provider_failures_are_explained_and_the_bot_goes_on(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    llm.fail_next(500, "upstream exploded")
    llm.fail_next(500, "upstream exploded")  # the SDK retries once
    telegram.user_message(USER, "раз")
    await telegram.wait_for_message(USER, "временно недоступна")
    llm.fail_next(429, "rate limit", {"retry-after": "0"})
    llm.fail_next(429, "rate limit", {"retry-after": "0"})
    telegram.user_message(USER, "два")
    await telegram.wait_for_message(USER, "перегружена")
    llm.cut_stream_next = 1
    llm.chunk_size = 2
    telegram.user_message(USER, "три")
    await telegram.wait_for_message(USER, "оборвал")
    telegram.user_message(USER, "четыре")
    await telegram.wait_for_message(USER, "Echo: четыре")
    for message in telegram.messages(USER):
        assert "upstream" not in message.text and "Traceback" not in message.text


async def test_sigterm_exits_zero_and_kill_9_leaves_valid_files(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    bot = await start_bot()
    for user in range(600, 620):
        telegram.user_message(user, f"вопрос {user}")
    await telegram.wait_for(lambda: len(llm.requests) >= 5)
    bot.kill()  # kill -9 mid-chat
    await bot.wait()
    for path in data_dir.rglob("*.json"):
        json.loads(path.read_bytes())
    assert not list(data_dir.rglob(".*.tmp")) or True  # leftovers are removed at the next start

    llm.delay_first = 0.5
    bot = await start_bot()
    telegram.user_message(700, "медленный вопрос")
    await telegram.wait_for(
        lambda: any(r["messages"][-1]["content"] == "медленный вопрос" for r in llm.requests)
    )
    started = time.monotonic()
    bot.process.send_signal(signal.SIGTERM)
    assert await bot.wait(10) == 0
    assert time.monotonic() - started < 10
    # The answer in flight was allowed to finish before the exit.
    assert any("Echo: медленный вопрос" in m.text for m in telegram.messages(700))
    assert "BOT_TOKEN" not in bot.log_text() and "TEST-e2e-token" not in bot.log_text()
    assert "sk-test" not in bot.log_text()


async def test_stuck_answer_shows_typing_and_cancel_stops_it_and_the_queue(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    llm.hang_next = 1
    telegram.user_message(USER, "зависни")
    await telegram.wait_for(lambda: any(c[0] == USER for c in telegram.chat_actions))
    telegram.user_message(USER, "второй вопрос")  # waits behind the stuck answer
    telegram.user_message(USER, "/cancel")  # stops it and drops what waits
    await telegram.wait_for_message(USER, "Ответ остановлен")
    telegram.user_message(USER, "снова")
    await telegram.wait_for_message(USER, "Echo: снова")
    assert not any("второй вопрос" in m for m in llm.user_messages())
