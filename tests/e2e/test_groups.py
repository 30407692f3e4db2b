"""Groups and forum topics through the real bot: answered only when addressed."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from edge.callbacks import BuyPlan, PlansMenu, ShowPlans
from tests.e2e.conftest import ADMIN, ROOT, StartBot
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


def small_quota_catalog(tmp_path: Path) -> Path:
    """The shipped catalog with one free request a day on each free model."""
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    text = re.sub(r"free_daily_requests = \d+", "free_daily_requests = 1", text)
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_hints_name_the_bot_and_the_words_fit_a_group_or_a_topic(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.group_message(GROUP, ANNA, "/ask@test_ai_bot")
    usage = await telegram.wait_for_message(GROUP, "Спросите меня так")
    assert "@test_ai_bot вопрос" in usage.text and "имя_бота" not in usage.text
    telegram.group_message(GROUP, ANNA, "/new@test_ai_bot")
    plain = await telegram.wait_for_message(GROUP, "заново", after=usage.message_id)
    assert "в этой группе" in plain.text and "теме" not in plain.text
    telegram.group_message(GROUP, ANNA, "/new@test_ai_bot", thread_id=7)
    topic = await telegram.wait_for_message(GROUP, "заново", after=plain.message_id)
    assert "в этой теме" in topic.text


async def test_plans_and_profile_in_a_group_link_the_private_chat_at_that_screen(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    links = {}
    for command, screen in (("/plans@test_ai_bot", "plans"), ("/profile@test_ai_bot", "profile")):
        after = telegram.last_id(GROUP)
        telegram.group_message(GROUP, BORIS, command)
        reply = await telegram.wait_for_message(GROUP, "личном чате", after=after)
        (url,) = [b["url"] for b in reply.buttons() if "url" in b]
        assert url == f"https://t.me/test_ai_bot?start={screen}"
        links[screen] = url
    assert telegram.messages(BORIS) == []  # nothing personal sent anywhere

    # The plans button under a refusal in the group: Telegram opens the private chat at
    # the plans (Boris never opened it: a message there could not be sent).
    telegram.unstarted_users.add(BORIS)
    telegram.group_message(GROUP, BORIS, "@test_ai_bot " + "я" * 1500)
    refusal = await telegram.wait_for_message(GROUP, "1000")
    query = telegram.press(BORIS, refusal, ShowPlans())
    answer = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert answer["url"] == links["plans"]
    telegram.unstarted_users.discard(BORIS)

    # The link opens the private chat with /start <screen>: that very screen.
    telegram.user_message(BORIS, "/start plans")
    plans = await telegram.wait_for_message(BORIS, "Тарифы")
    assert plans.has_button_for(BuyPlan(plan_id="premium1"))
    telegram.user_message(BORIS, "/start profile")
    await telegram.wait_for_message(BORIS, "Профиль", after=plans.message_id)
    assert llm.requests == []


async def test_a_quota_refusal_in_a_group_shows_nobody_the_users_numbers(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(small_quota_catalog(tmp_path))})
    telegram.user_message(ANNA, "/start")  # Anna has the private chat open, Boris not
    await telegram.wait_for_message(ANNA)
    telegram.unstarted_users.add(BORIS)
    for user in (ANNA, BORIS):
        telegram.group_message(GROUP, user, f"@test_ai_bot первый от {user}")
        await telegram.wait_for_message(GROUP, f"Echo: первый от {user}")
    after = telegram.last_id(GROUP)
    telegram.group_message(GROUP, ANNA, "@test_ai_bot второй", first_name="Анна")
    told = await telegram.wait_for_message(GROUP, "лимит", after=after)
    assert "Анна" in told.text and "личный чат" in told.text
    assert not re.search(r"\d", told.text), told.text  # no numbers, no reset time
    private = await telegram.wait_for_message(ANNA, "закончились")
    assert re.search(r"\d", private.text)  # the numbers, to her only
    assert private.has_button_for(PlansMenu()) or private.has_button_for(ShowPlans())
    assert told.has_button_for is not None and any("url" in b for b in told.buttons())

    telegram.group_message(GROUP, BORIS, "@test_ai_bot второй", first_name="Борис")
    generic = await telegram.wait_for_message(GROUP, "Борис", after=told.message_id)
    assert "лимит" in generic.text and not re.search(r"\d", generic.text)
    assert telegram.messages(BORIS) == []
    assert len(llm.requests) == 2
