"""Groups and forum topics through the real bot: answered only when addressed."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import ADMIN, StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

GROUP = -1001234567890
ANNA, BORIS = 901, 902


def asked(llm: FakeOpenAI) -> list[str]:
    return [m["content"] for m in llm.requests[-1]["messages"] if m["role"] != "system"]


async def test_only_addressed_messages_are_answered_with_one_memory_per_group(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.group_message(GROUP, ANNA, "всем привет, как дела?")
    telegram.group_message(GROUP, BORIS, "/start")
    await asyncio.sleep(1.0)
    assert telegram.messages(GROUP) == [] and llm.requests == []

    question = telegram.group_message(GROUP, ANNA, "@test_ai_bot сколько будет 2+2?")
    assert question
    answer = await telegram.wait_for_message(GROUP, "Echo: сколько будет 2+2?")
    assert answer.reply_to_message_id is not None  # the answer replies to its question
    assert asked(llm) == ["сколько будет 2+2?"]

    telegram.group_message(GROUP, BORIS, "а 3+3?", reply_to_message_id=answer.message_id)
    await telegram.wait_for_message(GROUP, "Echo: а 3+3?")
    assert asked(llm) == ["сколько будет 2+2?", "Echo: сколько будет 2+2?", "а 3+3?"]

    telegram.group_message(GROUP, ANNA, "/ask@test_ai_bot и 4+4?")
    await telegram.wait_for_message(GROUP, "Echo: и 4+4?")
    assert len(llm.requests) == 3


async def test_forum_topics_keep_their_conversations_apart(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.group_message(GROUP, ANNA, "@test_ai_bot про кошек", thread_id=11)
    await telegram.wait_for_message(GROUP, "Echo: про кошек")
    telegram.group_message(GROUP, ANNA, "@test_ai_bot про собак", thread_id=22)
    await telegram.wait_for_message(GROUP, "Echo: про собак")
    assert asked(llm) == ["про собак"]
    assert int(telegram.calls("sendMessage")[-1]["message_thread_id"]) == 22
    telegram.group_message(GROUP, BORIS, "@test_ai_bot а ещё?", thread_id=11)
    await telegram.wait_for_message(GROUP, "Echo: а ещё?")
    assert asked(llm) == ["про кошек", "Echo: про кошек", "а ещё?"]


async def test_access_is_the_asking_users_and_admin_commands_never_work_in_groups(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.group_message(GROUP, ANNA, "@test_ai_bot " + "я" * 1500)
    refusal = await telegram.wait_for_message(GROUP, "1000")
    assert refusal.reply_to_message_id is not None and llm.requests == []
    for command in ("/admin", "/stats@test_ai_bot", "/grant 1 premium1 30"):
        telegram.group_message(GROUP, ADMIN, command)
    await asyncio.sleep(1.0)
    assert [m.text for m in telegram.messages(GROUP)] == [refusal.text]
