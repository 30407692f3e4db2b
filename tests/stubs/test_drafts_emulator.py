"""The emulator's sendMessageDraft and draft stop, driven by aiogram's real Bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound, TelegramRetryAfter

from tests.stubs.telegram_server import FakeTelegram

USER = 42


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(telegram.base_url)
    client = Bot(telegram.token, session=AiohttpSession(api=api))
    yield client
    await client.session.close()


async def test_drafts_are_recorded_per_chat_and_a_message_replaces_them(
    telegram: FakeTelegram, bot: Bot
) -> None:
    assert await bot.send_message_draft(USER, 7, text="<b>При</b>", parse_mode=ParseMode.HTML)
    assert await bot.send_message_draft(USER, 7, text="Привет", can_stop=True, keep_on_stop=True)
    assert await bot.send_message_draft(USER + 1, 9, text="другой чат")
    drafts = telegram.drafts_in(USER)
    assert [d["text"] for d in drafts] == ["При", "Привет"]
    assert drafts[0]["entities"] == [{"type": "bold", "offset": 0, "length": 3}]
    assert not drafts[0]["can_stop"] and drafts[1]["can_stop"] and drafts[1]["keep_on_stop"]
    assert drafts[0]["time"] <= drafts[1]["time"]
    assert telegram.visible_draft(USER) == drafts[1]
    assert [d["text"] for d in telegram.drafts_in(USER + 1)] == ["другой чат"]
    # A draft is a preview only: no message exists until sendMessage.
    assert telegram.messages(USER) == []
    await bot.send_message(USER, "Привет, мир")
    assert telegram.visible_draft(USER) is None
    # An empty text shows Telegram's "Thinking…" placeholder (Bot API 10.x).
    assert await bot.send_message_draft(USER, 8, text="")
    assert telegram.visible_draft(USER) is not None
    assert telegram.drafts_in(USER)[-1]["placeholder"]


async def test_draft_validation(telegram: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="private chats"):
        await bot.send_message_draft(-100123, 1, text="группа")
    with pytest.raises(TelegramBadRequest, match="non-zero"):
        await bot.send_message_draft(USER, 0, text="x")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message_draft(USER, 1, text="я" * 4097)
    assert await bot.send_message_draft(
        USER, 1, text="<b>я</b>" * 4096, parse_mode=ParseMode.HTML
    )  # 4096 after parsing
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message_draft(USER, 1, text="<b>открыт", parse_mode=ParseMode.HTML)
    with pytest.raises(TelegramBadRequest, match="unsupported parse_mode"):
        await bot.send_message_draft(USER, 1, text="x", parse_mode="LaTeX")
    assert len(telegram.drafts_in(USER)) == 1


async def test_a_server_without_drafts_answers_method_not_found(
    telegram: FakeTelegram, bot: Bot
) -> None:
    telegram.drafts_supported = False
    with pytest.raises(TelegramNotFound, match="method not found"):
        await bot.send_message_draft(USER, 1, text="x")
    assert telegram.drafts_in(USER) == []
    telegram.drafts_supported = True
    assert await bot.send_message_draft(USER, 1, text="x")


async def test_draft_flood_control(telegram: FakeTelegram, bot: Bot) -> None:
    telegram.draft_429_once(USER, retry_after=2)
    with pytest.raises(TelegramRetryAfter) as first:
        await bot.send_message_draft(USER, 1, text="раз")
    assert first.value.retry_after == 2
    with pytest.raises(TelegramRetryAfter) as again:  # too soon: the time left
        await bot.send_message_draft(USER, 1, text="два")
    assert again.value.retry_after in (1, 2)
    assert await bot.send_message_draft(USER + 1, 1, text="другой чат не ждёт")
    assert [r[0] for r in telegram.draft_rejections] == [USER, USER]

    telegram.draft_limit_per_second = 2
    for number in range(2):
        assert await bot.send_message_draft(USER + 2, 1, text=str(number))
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message_draft(USER + 2, 1, text="третий за секунду")


async def test_the_users_stop_is_a_stopped_message_generation_update(
    telegram: FakeTelegram, bot: Bot
) -> None:
    await bot.send_message_draft(USER, 5, text="без кнопки")
    with pytest.raises(AssertionError, match="no draft with a stop button"):
        telegram.stop_draft(USER)
    await bot.send_message_draft(USER, 6, text="пишу", can_stop=True)
    update_id = telegram.stop_draft(USER)
    assert telegram.visible_draft(USER) is None  # keep_on_stop was not asked for
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [update_id]
    stopped = updates[0].stopped_message_generation
    assert stopped is not None and updates[0].event_type == "stopped_message_generation"
    assert stopped.draft_id == 6 and stopped.chat.id == USER and stopped.chat.type == "private"
    assert stopped.message_thread_id is None

    await bot.send_message_draft(USER, 7, text="пишу", can_stop=True, keep_on_stop=True)
    telegram.stop_draft(USER)
    assert telegram.visible_draft(USER) is not None  # kept until the bot's message
    late = telegram.stop_draft(USER, draft_id=3)  # any draft id, whatever is shown
    assert telegram.update(late)["stopped_message_generation"]["draft_id"] == 3


async def test_a_draft_expires(telegram: FakeTelegram, bot: Bot) -> None:
    await bot.send_message_draft(USER, 1, text="скоро исчезнет")
    draft = telegram.visible_draft(USER)
    assert draft is not None
    draft["time"] -= 31  # sent 31 s ago
    assert telegram.visible_draft(USER) is None
