"""The stand-ins, driven by the real clients: aiogram's Bot and the openai SDK."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    ReplyParameters,
)
from openai import AsyncOpenAI

from tests.conftest import TEST_KEY
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import NOT_MODIFIED, FakeTelegram

USER = 42


def make_bot(telegram: FakeTelegram, token: str | None = None) -> Bot:
    api = TelegramAPIServer.from_base(telegram.base_url)
    return Bot(token or telegram.token, session=AiohttpSession(api=api))


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    client = make_bot(telegram)
    yield client
    await client.session.close()


@pytest.fixture
async def client(llm: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    sdk = AsyncOpenAI(base_url=llm.base_url, api_key=TEST_KEY, max_retries=0)
    yield sdk
    await sdk.close()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=f"b{i}", callback_data=d)] for i, d in enumerate(data)
        ]
    )


# Telegram: messages ---------------------------------------------------------------------


async def test_send_edit_and_not_modified(telegram: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "test_ai_bot"
    sent = await bot.send_message(
        USER, "<b>Привет</b>, мир 🌍", parse_mode="HTML", reply_markup=keyboard("a")
    )
    assert sent.text == "Привет, мир 🌍" and sent.from_user is not None and sent.from_user.is_bot
    assert sent.entities is not None and sent.entities[0].type == "bold"
    stored = telegram.last_message(USER)
    assert stored is not None and stored.html == "<b>Привет</b>, мир 🌍"
    assert stored.entities == [{"type": "bold", "offset": 0, "length": 6}]
    assert stored.button_data("b0") == "a"

    edited = await bot.edit_message_text(
        "Пока", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("a")
    )
    assert not isinstance(edited, bool) and edited.text == "Пока"
    with pytest.raises(TelegramBadRequest) as same:
        await bot.edit_message_text(
            "Пока  \n", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("a")
        )  # trailing whitespace is trimmed by Telegram: the same content
    assert same.value.message == NOT_MODIFIED
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)
    # Without reply_markup the keyboard goes away: that is a change.
    await bot.edit_message_text("Пока", chat_id=USER, message_id=sent.message_id)
    assert (
        stored.edits == 2
        and stored.reply_markup is None
        and stored.history == ["Привет, мир 🌍", "Пока"]
    )
    assert [m.message_id for m in telegram.messages(USER)] == [sent.message_id]
    assert telegram.delivered[USER] == 1 and len(telegram.calls("editMessageText")) == 4

    assert await bot.delete_message(USER, sent.message_id)
    assert telegram.messages(USER) == [] and telegram.deleted[0].text == "Пока"


async def test_html_is_validated_like_telegram(telegram: FakeTelegram, bot: Bot) -> None:
    html = (
        '<a href="https://example.com/?a=1&amp;b=2">link</a> <code>x &lt; y</code> '
        '<pre><code class="language-python">print(1)</code></pre> <tg-spoiler>s</tg-spoiler> '
        "<blockquote expandable>q</blockquote> <i><u>iu</u></i> &#128512;"
    )
    sent = await bot.send_message(USER, html, parse_mode="HTML")
    assert sent.text == "link x < y print(1) s q iu 😀"
    types = {(e.type, e.language, e.url) for e in sent.entities or []}
    assert ("text_link", None, "https://example.com/?a=1&b=2") in types
    assert ("pre", "python", None) in types and ("expandable_blockquote", None, None) in types

    cases = {
        "<foo>bar</foo>": 'Unsupported start tag "foo" at byte offset 0',
        "<b>bold": 'Can\'t find end tag corresponding to start tag "b"',
        "<b>x</i>": 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
        "a < b": 'Unsupported start tag "" at byte offset 2',
        "Tom & Jerry": "Character '&'",
    }
    for text, reason in cases.items():
        with pytest.raises(TelegramBadRequest) as error:
            await bot.send_message(USER, text, parse_mode="HTML")
        assert error.value.message.startswith("Bad Request: can't parse entities: "), text
        assert reason in error.value.message, text
    # The same text without parse_mode is plain and fine.
    assert (await bot.send_message(USER, "a < b & <foo>")).text == "a < b & <foo>"

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "я" * 4097)
    assert (
        len(
            (await bot.send_message(USER, "<b>" + "я" * 4096 + "</b>", parse_mode="HTML")).text
            or ""
        )
        == 4096
    )
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "😀" * 2049)  # 4098 UTF-16 code units
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, " \n <b> </b>", parse_mode="HTML")


async def test_buttons_callbacks_and_replies(telegram: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=keyboard("я" * 33))  # 66 bytes
    menu = await bot.send_message(USER, "menu", reply_markup=keyboard("я" * 32))
    query = telegram.press_button(USER, menu.message_id, "я" * 32)
    updates = await bot.get_updates(timeout=0)
    callback = updates[0].callback_query
    assert callback is not None and callback.data == "я" * 32 and callback.message is not None
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query, text="x" * 201)
    assert await bot.answer_callback_query(query, text="ok")
    assert telegram.callback_answer(query) == {"callback_query_id": query, "text": "ok"}
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query, text="twice")

    telegram.user_message(USER, "вопрос")
    asked = telegram.incoming(USER)[-1]["message_id"]
    reply = await bot.send_message(
        USER, "ответ", reply_parameters=ReplyParameters(message_id=asked)
    )
    assert reply.reply_to_message is not None and reply.reply_to_message.text == "вопрос"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(USER, "x", reply_parameters=ReplyParameters(message_id=9999))


async def test_descriptions_per_language_with_their_limits(
    telegram: FakeTelegram, bot: Bot
) -> None:
    await bot.set_my_description(description="Описание")
    await bot.set_my_description(description="Description", language_code="en")
    await bot.set_my_short_description(short_description="Коротко", language_code="en")
    assert (await bot.get_my_description()).description == "Описание"
    assert (await bot.get_my_description(language_code="en")).description == "Description"
    assert (await bot.get_my_short_description(language_code="en")).short_description == "Коротко"
    assert (await bot.get_my_short_description()).short_description == ""
    await bot.set_my_description(description="x" * 512)
    with pytest.raises(TelegramBadRequest, match="description is too long"):
        await bot.set_my_description(description="x" * 513)
    await bot.set_my_short_description(short_description="x" * 120)
    with pytest.raises(TelegramBadRequest, match="short description is too long"):
        await bot.set_my_short_description(short_description="x" * 121)
    with pytest.raises(TelegramBadRequest, match="invalid language code"):
        await bot.set_my_description(description="x", language_code="english")
    await bot.set_my_description(description="", language_code="en")  # removed
    assert "en" not in telegram.descriptions


async def test_files_commands_and_errors(telegram: FakeTelegram, bot: Bot) -> None:
    doc = await bot.send_document(
        USER,
        BufferedInputFile(b"id,sum\n1,2\n", "report.csv"),
        caption="<i>CSV</i>",
        parse_mode="HTML",
    )
    stored = telegram.last_message(USER)
    assert stored is not None and stored.kind == "document" and stored.filename == "report.csv"
    assert stored.document == b"id,sum\n1,2\n" and stored.text == "CSV"
    assert doc.document is not None
    file = await bot.get_file(doc.document.file_id)
    assert file.file_path is not None
    async with aiohttp.ClientSession() as http:
        url = f"{telegram.base_url}/file/bot{telegram.token}/{file.file_path}"
        async with http.get(url) as response:
            assert await response.read() == b"id,sum\n1,2\n"

    telegram.user_photo(USER, caption="фото")
    photo_id = telegram.incoming(USER)[-1]["message_id"]
    copy = await bot.copy_message(7, USER, photo_id)
    assert telegram.messages(7)[0].message_id == copy.message_id
    assert telegram.messages(7)[0].kind == "copy" and telegram.messages(7)[0].text == "фото"

    await bot.set_my_commands([BotCommand(command="start", description="Старт")])
    await bot.set_my_commands(
        [BotCommand(command="start", description="Start")], language_code="en"
    )
    assert telegram.commands[""][0]["description"] == "Старт"
    assert (await bot.get_my_commands(language_code="en"))[0].description == "Start"
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    assert await bot.send_chat_action(USER, "typing")

    telegram.blocked_users.add(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "hi")
    telegram.blocked_users.clear()
    telegram.fail_next("sendMessage", 500, "Internal Server Error")
    with pytest.raises(Exception, match="Internal Server Error"):
        await bot.send_message(USER, "hi")
    with pytest.raises(TelegramNotFound, match="method not found"):
        await bot(UnknownMethod())
    stranger = make_bot(telegram, "999:WRONG")
    with pytest.raises(TelegramUnauthorizedError):
        await stranger.get_me()
    await stranger.session.close()


class UnknownMethod(TelegramMethod[bool]):
    __returning__ = bool
    __api_method__ = "noSuchMethod"


async def test_429_mapping(telegram: FakeTelegram, bot: Bot) -> None:
    telegram.per_chat_429_once(USER, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(USER, "hi")
    assert error.value.retry_after == 7
    assert (await bot.send_message(USER, "hi")).text == "hi"

    telegram.rate_limit_per_second = 3
    results = await asyncio.gather(
        *(bot.send_message(1000 + i, "x") for i in range(5)), return_exceptions=True
    )
    limited = [r for r in results if isinstance(r, TelegramRetryAfter)]
    assert len(limited) == 2 and limited[0].retry_after == 1 and telegram.rate_limited == 2
    assert sum(telegram.delivered.get(1000 + i, 0) for i in range(5)) == 3


async def test_long_polling_offset_and_allowed_updates(telegram: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=0) == []
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()
    first = telegram.user_message(USER, "/start payload", language_code="en")
    updates = await poll
    assert time.monotonic() - started < 2  # woke up at once
    message = updates[0].message
    assert (
        updates[0].update_id == first and message is not None and message.text == "/start payload"
    )
    assert message.entities is not None and message.entities[0].type == "bot_command"
    assert message.from_user is not None and message.from_user.language_code == "en"

    second = telegram.user_message(USER, "two")
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [first, second]  # not confirmed yet
    assert not telegram.confirmed(first)
    after = await bot.get_updates(offset=second + 1, timeout=0)
    assert after == [] and telegram.confirmed(second) and telegram.pending_updates == 0

    # allowed_updates: what the bot did not ask for is never delivered.
    await bot.get_updates(offset=second + 1, timeout=0, allowed_updates=["message"])
    telegram.pre_checkout(USER, "p", 10)
    telegram.user_message(USER, "three")
    kinds = [u.event_type for u in await bot.get_updates(offset=second + 1, timeout=0)]
    assert kinds == ["message"] and len(telegram.dropped_updates) == 1

    # A second poller ends the first with 409, as Telegram does.
    await bot.get_updates(offset=telegram.update(second)["update_id"] + 10, timeout=0)
    other = make_bot(telegram)
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    second_poll = asyncio.create_task(other.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError):
        await waiting
    await second_poll
    await other.session.close()


async def test_wait_helpers(telegram: FakeTelegram, bot: Bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.1)
        sent = await bot.send_message(USER, "готовлю…")
        await asyncio.sleep(0.1)
        await bot.edit_message_text("готово", chat_id=USER, message_id=sent.message_id)

    task = asyncio.create_task(later())
    message = await telegram.wait_for_message(USER, "готово", timeout=3)
    assert message.edits == 1
    await telegram.wait_idle(USER, quiet=0.2)
    await task
    with pytest.raises(AssertionError, match="condition not met") as error:
        await telegram.wait_for_message(USER, "never", timeout=0.2)
    assert "готово" in str(error.value)  # the dump shows the chat


async def test_stars_invoice_and_refund(telegram: FakeTelegram, bot: Bot) -> None:
    prices = [LabeledPrice(label="30 дней", amount=580)]
    invoice = await bot.send_invoice(
        USER, "Premium", "Доступ", "pay-1", "XTR", prices, provider_token=""
    )
    assert invoice.invoice is not None and invoice.invoice.total_amount == 580
    stored = telegram.last_message(USER)
    assert stored is not None and stored.kind == "invoice" and stored.extra["payload"] == "pay-1"
    with pytest.raises(TelegramBadRequest, match="exactly one price"):
        await bot.send_invoice(USER, "P", "D", "pay-2", "XTR", prices * 2)
    link = await bot.create_invoice_link(
        "P", "D", "pay-3", "XTR", prices, subscription_period=2592000
    )
    assert link.startswith("https://t.me/$")

    query = telegram.pre_checkout(USER, "pay-1", 580)
    assert await bot.answer_pre_checkout_query(query, ok=True)
    assert telegram.pre_checkout_answers[query]["ok"] == "true"
    telegram.successful_payment(USER, "pay-1", 580, "charge-1")
    update = (await bot.get_updates(timeout=0))[-1]
    assert update.message is not None and update.message.successful_payment is not None
    assert await bot.refund_star_payment(USER, "charge-1")
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER, "charge-1")


# OpenAI-compatible server ----------------------------------------------------------------


async def test_streaming_chunks_and_usage(llm: FakeOpenAI, client: AsyncOpenAI) -> None:
    llm.reply = lambda request: "Привет, это длинный ответ модели."
    llm.chunk_size = 5
    stream = await client.chat.completions.create(
        model="gpt-5-nano",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Привет, это длинный ответ модели."
    assert len(chunks) == 1 + 7 + 1 + 1  # role, contents, finish, usage
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0
    request = llm.requests[-1]
    assert (
        request["_path"] == "/v1/chat/completions"
        and request["_authorization"] == f"Bearer {TEST_KEY}"
    )

    whole = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}]
    )
    assert whole.choices[0].message.content == "Привет, это длинный ответ модели."
    assert (
        whole.usage is not None and [m.id for m in (await client.models.list()).data] == llm.models
    )
    assert llm.user_messages() == ["hi", "q"]


async def test_model_errors(llm: FakeOpenAI, client: AsyncOpenAI) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "hi"}
    ]
    llm.fail_next(429, "Rate limit reached", retry_after=0)
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "0"
    llm.fail_next(500, "boom")
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    with pytest.raises(openai.BadRequestError, match="max_completion_tokens"):
        await client.chat.completions.create(model="gpt-5-nano", messages=messages, max_tokens=10)
    wrong = AsyncOpenAI(base_url=llm.base_url, api_key="sk-bad", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await wrong.chat.completions.create(model="gpt-4o-mini", messages=messages)
    await wrong.close()

    llm.cut_stream_next = 1
    llm.chunk_size = 1
    received = []
    with pytest.raises(openai.APIError):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True
        )
        async for chunk in stream:
            received.append(chunk)
    assert 1 < len(received) < len("Echo: hi") + 1  # some content came, then the cut

    llm.hang_next = 1
    hung = asyncio.create_task(
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    )
    await asyncio.sleep(0.1)
    assert not hung.done() and llm.active == 1
    llm.release()
    with pytest.raises(openai.InternalServerError):
        await hung
