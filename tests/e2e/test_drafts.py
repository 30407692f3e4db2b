"""Answers streamed as drafts (sendMessageDraft) in private chats: through the real bot.

The harness runs the bot with STREAM_EDIT_INTERVAL=0.3, so drafts come at most every
0.3 s per chat. tests/e2e/test_chat.py and test_stop_retry.py cover the edit-based path
(with drafts switched off in the emulator).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from edge.callbacks import AnswerAct, AnswerControl
from tests.e2e.conftest import StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 801
INTERVAL = 0.3  # STREAM_EDIT_INTERVAL in the harness
JITTER = 0.1  # the emulator times requests on arrival: allow for the way there


STOP = AnswerControl(action=AnswerAct.STOP)
RETRY = AnswerControl(action=AnswerAct.RETRY)


def calls_to(
    telegram: FakeTelegram, method: str, chat_id: int
) -> list[tuple[dict[str, Any], float]]:
    """(params, arrival time) of the calls of `method` for the chat, answered or not."""
    wanted = method.lower()
    return [
        (params, at)
        for name, params, at in telegram.call_log
        if name.lower() == wanted and str(params.get("chat_id")) == str(chat_id)
    ]


def finished(telegram: FakeTelegram) -> bool:
    last = telegram.last_message(USER)
    return last is not None and last.has_button_for(RETRY)


def assert_paced(times: list[float], interval: float = INTERVAL) -> None:
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= interval - JITTER for gap in gaps), gaps


async def test_an_answer_streams_as_drafts_and_ends_with_one_message(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    # The bot asks for Telegram's stop updates (it has a handler for them).
    assert telegram.allowed_updates is not None
    assert "stopped_message_generation" in telegram.allowed_updates
    llm.delay_per_chunk = 0.05
    question = "черновик " * 40  # echoed back in ~46 chunks: about 2.5 s
    telegram.user_message(USER, question)
    final = await telegram.wait_for_message(USER, "Echo:", timeout=20)
    await telegram.wait_idle(USER, quiet=0.5)

    whole = f"Echo: {question}".strip()
    assert final.text == whole and final.has_button_for(RETRY)
    assert [m.text for m in telegram.messages(USER)] == [whole]
    assert len(calls_to(telegram, "sendMessage", USER)) == 1  # the final text, once
    assert telegram.calls("editMessageText") == []

    drafts = telegram.drafts_in(USER)
    assert len(drafts) >= 4, drafts
    assert len({d["draft_id"] for d in drafts}) == 1 and drafts[0]["draft_id"] != 0
    assert all(d["can_stop"] and d["keep_on_stop"] for d in drafts)
    lengths = [len(d["text"]) for d in drafts]
    assert lengths == sorted(set(lengths)), "every draft shows more than the one before"
    assert all(whole.startswith(d["text"]) for d in drafts)
    assert_paced([d["time"] for d in drafts])
    assert_paced([at for _, at in calls_to(telegram, "sendMessageDraft", USER)])
    # "Typing" ends with the first draft (the draft shows the answer being written).
    assert not [t for chat, _, t in telegram.chat_actions if chat == USER and t > drafts[0]["time"]]
    # The final message went out after the last draft, and took its place.
    sent_at = calls_to(telegram, "sendMessage", USER)[0][1]
    assert sent_at > drafts[-1]["time"]
    assert telegram.visible_draft(USER) is None


async def test_a_long_answer_becomes_several_messages_without_edits(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    code = "\n".join(f"print({i})  # <{i}> & more" for i in range(300))
    answer = "Вот **код**:\n\n```python\n" + code + "\n```\n\n" + "Абзац текста. " * 400
    llm.reply = lambda _: answer
    llm.chunk_size = 200
    llm.delay_per_chunk = 0.05
    await start_bot()
    telegram.user_message(USER, "покажи код")
    await telegram.wait_for(lambda: finished(telegram), timeout=30)
    await telegram.wait_idle(USER, quiet=0.5)

    messages = telegram.messages(USER)
    assert len(messages) >= 3 and all(len(m.text) <= 4096 for m in messages)
    shown = "\n".join(m.text for m in messages)  # (a long paragraph is cut between words)
    assert "print(299)  # <299> & more" in shown and "print(0)" in shown
    assert all(f"print({i})  # <{i}> & more\n" in shown for i in range(299))
    assert shown.split().count("текста.") == 400
    assert "**" not in shown and "```" not in shown
    for message in messages:  # each piece of the code is a code block of its own
        if "print(" in message.text:
            assert any(e["type"] == "pre" for e in message.entities), message.html
    assert any("<b>код</b>" in (m.html or "") for m in messages)
    assert [m.has_button_for(RETRY) for m in messages] == [False] * (len(messages) - 1) + [True]
    assert len(calls_to(telegram, "sendMessage", USER)) == len(messages)
    assert telegram.calls("editMessageText") == [] and telegram.deleted == []
    drafts = telegram.drafts_in(USER)
    # Each full part became a message while the answer went on; the rest was a new draft.
    assert len({d["draft_id"] for d in drafts}) >= 2
    sends = [at for _, at in calls_to(telegram, "sendMessage", USER)]
    streamed = [at for at in sends if at < drafts[-1]["time"]]
    assert streamed, "the first part was sent while the answer went on"
    assert_paced(sorted([d["time"] for d in drafts] + streamed))  # one update per interval


@pytest.mark.parametrize("no_drafts", ["404 method not found", "400 unknown method"])
async def test_a_server_without_drafts_streams_with_edits_for_good(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, no_drafts: str
) -> None:
    if no_drafts.startswith("404"):
        telegram.drafts_supported = False
    else:
        telegram.fail_next("sendMessageDraft", 400, "Bad Request: unknown method")
    bot = await start_bot()
    llm.delay_per_chunk = 0.05
    for number, question in enumerate(["первый " * 30, "второй " * 30]):
        telegram.user_message(USER, question)
        whole = f"Echo: {question}".strip()
        streaming = await telegram.wait_for(
            lambda: next((m for m in telegram.messages(USER) if m.has_button_for(STOP)), None)
        )
        final = await telegram.wait_for_message(USER, whole)
        assert final.message_id == streaming.message_id and final.edits >= 1
        assert final.has_button_for(RETRY) and not final.has_button_for(STOP)
        # Only the very first answer tried a draft: the bot remembers.
        assert len(telegram.calls("sendMessageDraft")) == 1, number
    assert telegram.drafts_in(USER) == []
    assert bot.log_text().count("has no sendMessageDraft") == 1


async def test_the_users_stop_ends_the_answer_and_keeps_the_partial_text(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    llm.delay_per_chunk = 0.05
    question = "длинный ответ " * 60  # ~100 chunks: several seconds
    telegram.user_message(USER, question)
    await telegram.wait_for(lambda: len(telegram.drafts_in(USER)) >= 3)
    stopped_draft = telegram.drafts_in(USER)[-1]["draft_id"]
    sent_before = llm.pieces_sent
    telegram.stop_draft(USER)  # the stop button Telegram shows under the draft
    stopped = await telegram.wait_for_message(USER, "⏹ Остановлено")
    assert stopped.text.startswith("Echo: длинный ответ")
    assert len(stopped.text) < len(f"Echo: {question}")  # the partial answer, marked
    assert stopped.has_button_for(RETRY) and not stopped.has_button_for(STOP)
    await telegram.wait_for(lambda: llm.closed_by_client == 1)
    await asyncio.sleep(0.5)
    assert llm.pieces_sent - sent_before < 20  # no more tokens paid for after the stop
    assert len(calls_to(telegram, "sendMessage", USER)) == 1
    assert telegram.calls("editMessageText") == [] and telegram.visible_draft(USER) is None

    # The partial answer is in the memory, and a late stop of that old draft (arriving
    # while the next answer streams) does not end the next answer.
    llm.delay_per_chunk = 0.02
    telegram.user_message(USER, "дальше " * 40)
    await telegram.wait_for(
        lambda: any(d["draft_id"] != stopped_draft for d in telegram.drafts_in(USER))
    )
    telegram.stop_draft(USER, draft_id=stopped_draft)
    later = await telegram.wait_for_message(USER, "Echo: дальше", after=stopped.message_id)
    await telegram.wait_for(lambda: finished(telegram))
    assert later.text == f"Echo: {'дальше ' * 40}".strip()  # whole: the old stop was ignored
    memory = [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "assistant"]
    assert memory[-1].startswith("Echo: длинный ответ")
    assert len(memory[-1]) < len(f"Echo: {question}")


async def test_a_429_on_drafts_pauses_the_chat_and_the_answer_arrives_whole(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    llm.delay_per_chunk = 0.05
    telegram.draft_429_once(USER, retry_after=2)
    question = "пауза " * 50  # ~2.5 s of answer
    telegram.user_message(USER, question)
    final = await telegram.wait_for_message(USER, "Echo:", timeout=20)
    assert final.text == f"Echo: {question}".strip()
    # Telegram's flood control answers 429 again to a draft sent within retry_after:
    # there was none, and the next draft and the final message came after the pause.
    assert len(telegram.draft_rejections) == 1, telegram.draft_rejections
    _, limited_at, retry_after = telegram.draft_rejections[0]
    resumed = min(
        [d["time"] for d in telegram.drafts_in(USER) if d["time"] > limited_at]
        + [at for _, at in calls_to(telegram, "sendMessage", USER)]
    )
    assert resumed >= limited_at + retry_after - JITTER
    assert len(calls_to(telegram, "sendMessage", USER)) == 1


async def test_drafts_above_telegrams_rate_wait_as_asked(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot({"STREAM_EDIT_INTERVAL": "0.2"})
    telegram.draft_limit_per_second = 2  # more than that: 429 with retry_after 1
    llm.delay_per_chunk = 0.03
    question = "быстро " * 80  # ~3 s of answer, a draft every 0.2 s wanted
    telegram.user_message(USER, question)
    final = await telegram.wait_for_message(USER, "Echo:", timeout=20)
    assert final.text == f"Echo: {question}".strip()
    rejections = telegram.draft_rejections
    assert rejections, "the emulator's limit was reached"
    for (_, at, retry), (_, later, _) in itertools.pairwise(rejections):
        assert later >= at + retry - JITTER, rejections  # never inside a pause
    assert len(calls_to(telegram, "sendMessage", USER)) == 1
