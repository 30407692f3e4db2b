"""StreamingReply against the Bot API emulator, in one process: drafts or edits, the
fallback for servers without drafts, long answers, 429 pauses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from edge.streaming import StreamingReply, StreamPacing
from tests.stubs.telegram_server import FakeTelegram

USER = 77
GROUP = -1001234
INTERVAL = 0.05
STOP = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Stop", callback_data="stop")]]
)
RETRY = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Retry", callback_data="retry")]]
)


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(telegram.base_url)
    client = Bot(telegram.token, session=AiohttpSession(api=api))
    yield client
    await client.session.close()


@pytest.fixture
def pacing() -> StreamPacing:
    return StreamPacing()  # one per dispatcher; here one per test


def reply_to(bot: Bot, chat_id: int, pacing: StreamPacing) -> StreamingReply:
    return StreamingReply(
        bot,
        chat_id,
        pacing=pacing,
        edit_interval=INTERVAL,
        streaming_markup=STOP,
        final_markup=RETRY,
    )


async def stream(reply: StreamingReply, text: str, pieces: int = 12, pause: float = 0.02) -> None:
    size = -(-len(text) // pieces)
    for start in range(0, len(text), size):
        await reply.add_text(text[start : start + size])
        await asyncio.sleep(pause)
    reply.close()
    await reply.finish()


def count(telegram: FakeTelegram, method: str) -> int:
    return telegram.method_counts[method.lower()]


async def test_a_private_chat_streams_drafts_and_a_group_edits(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing
) -> None:
    text = "Ответ, который растёт понемногу. " * 6
    reply = reply_to(bot, USER, pacing)
    assert reply.draft_id is not None
    assert pacing.is_streaming_draft(USER, reply.draft_id)
    await stream(reply, text)
    assert not pacing.is_streaming_draft(USER, reply.draft_id)  # over: a stop is stale
    assert len(telegram.drafts_in(USER)) >= 3
    [message] = telegram.messages(USER)
    assert message.text == text.strip() and message.edits == 0
    assert message.button_data("Retry") == "retry"

    drafts = count(telegram, "sendMessageDraft")
    group = reply_to(bot, GROUP, pacing)
    assert group.draft_id is None
    await stream(group, text)
    assert count(telegram, "sendMessageDraft") == drafts  # none tried in a group
    [message] = telegram.messages(GROUP)
    assert message.text == text.strip() and message.edits >= 2  # Stop while streaming
    assert message.button_data("Retry") == "retry"


async def test_without_drafts_on_the_server_every_answer_edits(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing
) -> None:
    telegram.drafts_supported = False
    await stream(reply_to(bot, USER, pacing), "первый ответ " * 10)
    second = reply_to(bot, USER + 1, pacing)
    assert second.draft_id is None  # remembered for this bot's server
    await stream(second, "второй ответ " * 10)
    assert count(telegram, "sendMessageDraft") == 1
    assert all(m.edits >= 2 for m in telegram.messages(USER) + telegram.messages(USER + 1))
    # Kept in the dispatcher's pacing, not the process: another dispatcher tries drafts.
    fresh = reply_to(bot, USER, StreamPacing())
    assert fresh.draft_id is not None
    fresh.close()


async def test_another_draft_error_falls_back_for_that_answer_only(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing
) -> None:
    telegram.fail_next("sendMessageDraft", 400, "Bad Request: TEXTDRAFT_PEER_INVALID")
    await stream(reply_to(bot, USER, pacing), "ответ " * 30)
    assert telegram.messages(USER)[0].edits >= 2
    await stream(reply_to(bot, USER, pacing), "ещё ответ " * 30)
    assert telegram.drafts_in(USER) and telegram.messages(USER)[1].edits == 0


async def test_html_refused_in_a_draft_goes_on_as_plain_text(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing
) -> None:
    telegram.fail_next(
        "sendMessageDraft", 400, "Bad Request: can't parse entities: unexpected end tag"
    )
    text = "**жирный** текст " * 12
    await stream(reply_to(bot, USER, pacing), text)
    drafts = telegram.drafts_in(USER)
    assert drafts and all(d["parse_mode"] is None for d in drafts)
    assert telegram.messages(USER)[0].text == text.strip()  # plain from then on


async def test_a_long_code_answer_is_sent_in_finished_parts_with_code_blocks_kept(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing
) -> None:
    code = "\n".join(f"value_{i} = compute({i}) * 2  # <{i}>" for i in range(400))
    text = "Код:\n\n```python\n" + code + "\n```\n\nГотово, " + "слово " * 900
    await stream(reply_to(bot, USER, pacing), text, pieces=60, pause=0.01)
    messages = telegram.messages(USER)
    assert len(messages) >= 4 and count(telegram, "editMessageText") == 0
    shown = "\n".join(m.text for m in messages)
    assert all(f"value_{i} = compute({i}) * 2  # <{i}>\n" in shown + "\n" for i in range(400))
    assert shown.split().count("слово") == 900
    for message in messages:
        if "compute(" in message.text:  # every piece of the code is a code block
            assert any(
                e["type"] == "pre" and e.get("language") == "python" for e in message.entities
            )
        assert "```" not in message.text
    assert messages[-1].button_data("Retry") == "retry" and not messages[0].buttons()
    # A new draft after each part sent (unless the next part was full at once).
    assert 2 <= len({d["draft_id"] for d in telegram.drafts_in(USER)}) <= len(messages)


async def test_a_429_pauses_the_chat_for_the_next_answer_too(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing
) -> None:
    telegram.draft_429_once(USER, retry_after=1)
    first = reply_to(bot, USER, pacing)
    await first.add_text("начало ответа " * 5)
    await asyncio.sleep(INTERVAL * 2)
    await first.add_text("ещё")  # this draft gets 429: the chat waits 1 s
    [(_, limited_at, _)] = telegram.draft_rejections
    first.close()
    await first.finish()  # the final message waits for the pause
    second = reply_to(bot, USER, pacing)
    await asyncio.sleep(INTERVAL * 2)
    await second.add_text("второй ответ")
    second.close()
    await second.finish()
    assert len(telegram.draft_rejections) == 1  # nothing was sent inside the pause
    times = [at for name, _, at in telegram.call_log if name.startswith("sendMessage")]
    assert all(at < limited_at + 0.01 or at >= limited_at + 1 - 0.05 for at in times)
    assert [m.text for m in telegram.messages(USER)] == [
        ("начало ответа " * 5 + "ещё").strip(),
        "второй ответ",
    ]


async def test_a_draft_is_shown_again_while_the_answer_pauses(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edge.streaming.DRAFT_REFRESH", 0.3)  # Telegram's: about 30 s
    reply = reply_to(bot, USER, pacing)
    await asyncio.sleep(INTERVAL)
    await reply.add_text("думаю над продолжением")
    await asyncio.sleep(1.0)  # the model pauses
    reply.close()
    drafts = telegram.drafts_in(USER)
    assert 3 <= len(drafts) <= 5, drafts
    assert {d["text"] for d in drafts} == {"думаю над продолжением"}
    await asyncio.sleep(0.5)
    assert len(telegram.drafts_in(USER)) == len(drafts)  # no more after the answer ended
    await reply.finish()
    assert telegram.visible_draft(USER) is None


async def test_a_picture_of_the_answer_goes_as_a_photo_beside_its_text(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing
) -> None:
    """The Telegram answer sink: a picture is sent whole at once; in a group it replies to
    the question, as the answer's text does."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    reply = reply_to(bot, USER, pacing)
    await reply.add_text("Вот кот")
    await reply.add_image(png, "image/png")
    reply.close()
    await reply.finish()
    photo, text = telegram.messages(USER)
    assert (photo.kind, photo.document, text.text) == ("photo", png, "Вот кот")
    assert text.button_data("Retry") == "retry" and not photo.buttons()

    telegram.group_message(GROUP, USER, "нарисуй кота")
    question = max(telegram._chats[GROUP].incoming)  # that message's id
    group = StreamingReply(
        bot, GROUP, pacing=pacing, edit_interval=INTERVAL, drafts=False, reply_to=question
    )
    await group.add_image(png, "image/png")
    group.close()
    [drawn] = telegram.messages(GROUP)
    assert drawn.kind == "photo" and drawn.reply_to_message_id == question


@pytest.mark.parametrize("chat_id", [USER, GROUP])
async def test_the_first_words_are_shown_before_the_next_piece_arrives(
    telegram: FakeTelegram, bot: Bot, pacing: StreamPacing, chat_id: int
) -> None:
    """A slow model (pieces far apart): its first words are shown on their own, not
    held until the next piece comes (was: one whole edit interval later, with it)."""
    reply = StreamingReply(bot, chat_id, pacing=pacing, edit_interval=5.0)

    def shown() -> int:
        return len(telegram.drafts_in(chat_id)) + len(telegram.messages(chat_id))

    await reply.add_text("Первые слова")
    for _ in range(200):  # well before the next piece and the 5 s interval
        if shown():
            break
        await asyncio.sleep(0.01)
    assert shown() == 1
    await reply.add_text(" и остальные.")
    reply.close()
    await reply.finish()
    [message] = telegram.messages(chat_id)
    assert message.text == "Первые слова и остальные."
