"""Stop under an answer being written, Retry under a finished one: through the real bot.

The Stop button lives under a message that is edited while the answer streams: the path
for groups and for Bot API servers without drafts, which the emulator plays here.
Private chats with drafts have Telegram's own stop: tests/e2e/test_drafts.py."""

from __future__ import annotations

import asyncio

from edge.callbacks import AnswerAct, AnswerControl
from tests.e2e.conftest import StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 701


STOP = AnswerControl(action=AnswerAct.STOP)
RETRY = AnswerControl(action=AnswerAct.RETRY)


async def test_stop_closes_the_provider_stream_and_keeps_the_partial_answer(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    telegram.drafts_supported = False  # edit streaming, with the Stop button
    await start_bot()
    llm.delay_per_chunk = 0.05
    question = "длинный ответ " * 60  # echoed back in ~100 chunks: several seconds
    telegram.user_message(USER, question)
    streaming = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(USER) if m.has_button_for(STOP)), None)
    )
    sent_before = llm.pieces_sent
    stop = STOP.pack()
    telegram.press_button(USER, streaming.message_id, stop)
    stopped = await telegram.wait_for_message(USER, "⏹ Остановлено")
    assert stopped.message_id == streaming.message_id  # the partial answer stays, marked
    assert stopped.text.startswith("Echo: длинный ответ")
    assert stopped.has_button_for(RETRY) and not stopped.has_button_for(STOP)
    await telegram.wait_for(lambda: llm.closed_by_client == 1)
    await asyncio.sleep(0.5)
    assert llm.pieces_sent - sent_before < 20  # no more tokens paid for after the stop
    # Stop pressed again after the end: a clear answer, nothing else happens.
    query = telegram.press_button(USER, streaming.message_id, stop)
    answer = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert "закончен" in str(answer.get("text"))


async def test_retry_replaces_the_last_answer_in_the_memory(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    answers = iter(["первый вариант", "второй вариант", "про погоду"])
    llm.reply = lambda body: next(answers)
    telegram.user_message(USER, "Расскажи анекдот")
    first = await telegram.wait_for_message(USER, "первый вариант")
    assert first.has_button_for(RETRY)
    telegram.press(USER, first, RETRY)
    second = await telegram.wait_for_message(USER, "второй вариант")
    assert second.has_button_for(RETRY)
    assert not telegram.messages(USER)[0].buttons()  # the old answer's Retry is gone
    telegram.user_message(USER, "А погода?")
    await telegram.wait_for_message(USER, "про погоду")
    memory = [(m["role"], m["content"]) for m in llm.requests[-1]["messages"]]
    assert memory[-3:] == [
        ("user", "Расскажи анекдот"),
        ("assistant", "второй вариант"),  # the retried answer replaced the first
        ("user", "А погода?"),
    ]
    assert ("assistant", "первый вариант") not in memory
    assert llm.user_messages()[:2] == ["Расскажи анекдот", "Расскажи анекдот"]


async def test_retry_after_a_provider_error_and_after_new(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    llm.fail_next(500, "upstream exploded")
    llm.fail_next(500, "upstream exploded")  # the SDK retries once
    telegram.user_message(USER, "вопрос")
    failed = await telegram.wait_for_message(USER, "недоступна")
    telegram.press(USER, failed, RETRY)
    await telegram.wait_for_message(USER, "Echo: вопрос")
    answered = [m for m in telegram.messages(USER) if "Echo: вопрос" in m.text][-1]
    telegram.user_message(USER, "/new")
    await telegram.wait_for_message(USER, "новый", after=answered.message_id)
    query = telegram.press(USER, answered, RETRY)
    reply = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert "нечего" in str(reply.get("text")).lower()
    assert (
        llm.user_messages().count("вопрос") == 3
    )  # two failed tries (the SDK retries once), one retry


async def test_only_the_latest_answer_can_be_retried(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(USER, "первый")
    first = await telegram.wait_for_message(USER, "Echo: первый")
    retry = RETRY.pack()
    telegram.user_message(USER, "второй")
    await telegram.wait_for_message(USER, "Echo: второй")
    query = telegram.press_button(USER, first.message_id, retry)
    reply = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert "последний" in str(reply.get("text"))
    await telegram.wait_for(lambda: not first.buttons())  # the stale button is taken away
    assert llm.user_messages() == ["первый", "второй"]
