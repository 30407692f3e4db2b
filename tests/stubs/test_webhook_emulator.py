"""The emulator's webhooks, driven by aiogram's real Bot and a local receiver: what
setWebhook refuses, getUpdates while one is set, and how updates are delivered (per-chat
queues, retries, max_connections, several targets)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiohttp import web

from tests.stubs.round_robin import RoundRobinProxy
from tests.stubs.telegram_server import CONFLICT_WEBHOOK, FakeTelegram
from tests.stubs.test_stubs import make_bot
from tests.stubs.webhook_delivery import SECRET_HEADER, queue_of

SECRET = "s3cret_token-1"
Answer = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]


@dataclass
class Receiver:
    """A local webhook endpoint: records each POST; `answer` decides the response."""

    url: str = ""
    posts: list[tuple[dict[str, Any], dict[str, str], float]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    answer: Answer | None = None

    def update_ids(self) -> list[int]:
        return [body["update_id"] for body, _, _ in self.posts]


async def ok(body: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({})


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    client = make_bot(telegram)
    yield client
    await client.session.close()


async def start_receiver(path: str = "/hook") -> tuple[Receiver, web.AppRunner]:
    receiver = Receiver()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        receiver.posts.append((body, dict(request.headers), time.monotonic()))
        receiver.in_flight += 1
        receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
        try:
            return await (receiver.answer or ok)(body)
        finally:
            receiver.in_flight -= 1

    app = web.Application()
    app.router.add_post(path, handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}{path}"
    return receiver, runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint, runner = await start_receiver()
    yield endpoint
    await runner.cleanup()


@pytest.mark.parametrize(
    ("url", "secret", "error"),
    [
        ("http://example.com/hook", SECRET, "bad webhook: An HTTPS URL must be provided"),
        ("https://example.com:8080/hook", SECRET, "ports 80, 88, 443 or 8443"),
        ("https://10.0.0.1/hook", SECRET, "IP address 10.0.0.1 is reserved"),
        ("ftp://example.com/hook", SECRET, "invalid webhook URL specified"),
        ("https://example.com/hook", "a" * 257, "secret token is too long"),
        ("https://example.com/hook", "has space", "secret token contains unallowed characters"),
        ("https://example.com/hook", "пароль", "secret token contains unallowed characters"),
    ],
)
async def test_set_webhook_refuses_as_telegram_does(
    telegram: FakeTelegram, bot: Bot, url: str, secret: str, error: str
) -> None:
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.set_webhook(url, secret_token=secret)
    assert telegram.webhook is None
    assert await bot.get_updates(timeout=0) == []  # polling still works


async def test_while_a_webhook_is_set_get_updates_conflicts_until_deleted(
    telegram: FakeTelegram, bot: Bot
) -> None:
    assert await bot.set_webhook(
        "https://example.com/hook",
        secret_token=SECRET,
        max_connections=500,  # clamped, as the server does
        allowed_updates=["message", "callback_query"],
    )
    info = await bot.get_webhook_info()
    assert info.url == "https://example.com/hook"
    assert info.max_connections == 100
    assert info.allowed_updates == ["callback_query", "message"]
    assert info.pending_update_count == 0
    with pytest.raises(TelegramConflictError) as conflict:
        await bot.get_updates(timeout=0)
    assert conflict.value.message == CONFLICT_WEBHOOK
    # The same settings again change nothing; allowed_updates omitted keeps the set.
    assert await bot.set_webhook(
        "https://example.com/hook", secret_token=SECRET, max_connections=100
    )
    assert (await bot.get_webhook_info()).allowed_updates == ["callback_query", "message"]
    telegram.user_message(7, "kept while the webhook fails")
    assert await bot.delete_webhook(drop_pending_updates=False)
    info = await bot.get_webhook_info()
    assert info.url == "" and info.max_connections is None
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["kept while the webhook fails"]


async def test_updates_are_posted_with_the_secret_and_confirmed_by_a_2xx(
    telegram: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    first = telegram.user_message(7, "before the webhook")
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    second = telegram.user_message(7, "after")
    await telegram.wait_for(lambda: telegram.confirmed(second))
    assert receiver.update_ids() == [first, second]
    body, headers, _ = receiver.posts[0]
    assert headers[SECRET_HEADER] == SECRET
    assert headers["Content-Type"].startswith("application/json")
    assert body["message"]["text"] == "before the webhook"
    assert telegram.pending_updates == 0
    assert all(attempt.ok for attempt in telegram.webhook_attempts)


async def test_a_chats_next_update_waits_for_the_answer_to_the_previous_one(
    telegram: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    release = asyncio.Event()

    async def slow_for_chat_7(body: dict[str, Any]) -> web.StreamResponse:
        if body.get("message", {}).get("chat", {}).get("id") == 7:
            await release.wait()
        return web.json_response({})

    receiver.answer = slow_for_chat_7
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    a1 = telegram.user_message(7, "a1")
    a2 = telegram.user_message(7, "a2")
    b1 = telegram.user_message(8, "b1")
    telegram.press_button(7, 1, "data")  # the user's callback queue: not held by chat 7

    def pressed() -> bool:
        return any("callback_query" in body for body, _, _ in receiver.posts)

    await telegram.wait_for(lambda: telegram.confirmed(b1) and pressed())
    await asyncio.sleep(0.2)
    assert a1 in receiver.update_ids()
    assert a2 not in receiver.update_ids()  # the chat's queue is held by a1
    release.set()
    await telegram.wait_for(lambda: telegram.confirmed(a2))
    assert receiver.update_ids().index(a1) < receiver.update_ids().index(a2)


def test_queues_are_keyed_as_the_bot_api_server_keys_them() -> None:
    chat = {"chat": {"id": -100}, "from": {"id": 5}}
    assert queue_of({"message": chat}) == -100
    assert queue_of({"edited_message": chat}) == -100
    assert queue_of({"callback_query": {"from": {"id": 5}}}) == 5 + (3 << 33)
    assert queue_of({"pre_checkout_query": {"from": {"id": 5}}}) == 5 + (4 << 33)
    assert queue_of({"my_chat_member": chat}) is None


async def test_failures_are_retried_at_once_then_after_growing_delays(
    telegram: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    telegram.webhook_retry_scale = 0.05  # 2 s -> 0.1 s, 4 s -> 0.2 s
    fails = 3

    async def failing(body: dict[str, Any]) -> web.StreamResponse:
        nonlocal fails
        if fails:
            fails -= 1
            return web.Response(status=503, text="stopping")
        return web.json_response({})

    receiver.answer = failing
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    update_id = telegram.user_message(7, "hello")
    await telegram.wait_for(lambda: telegram.confirmed(update_id))
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 503 Service Unavailable"
    assert info.last_error_date is not None
    times = [at for _, _, at in receiver.posts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 4
    assert gaps[0] < 0.08  # the first retry at once
    assert 0.08 < gaps[1] < 0.5  # then 2 s (scaled)
    assert 0.18 < gaps[2] < 0.8  # then 4 s (scaled)


async def test_retry_after_is_honoured_and_a_timeout_is_a_failure(
    telegram: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    telegram.webhook_retry_scale = 0.1
    telegram.webhook_timeout = 0.3
    answers = ["timeout", "retry-after", "ok"]

    async def scripted(body: dict[str, Any]) -> web.StreamResponse:
        answer = answers.pop(0)
        if answer == "timeout":
            await asyncio.sleep(1)
        if answer == "retry-after":
            return web.Response(status=429, headers={"Retry-After": "5"})
        return web.json_response({})

    receiver.answer = scripted
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    update_id = telegram.user_message(7, "hello")
    await telegram.wait_for(lambda: telegram.confirmed(update_id), timeout=10)
    attempts = telegram.webhook_posts(update_id)
    assert [a.error for a in attempts] == [
        "Timeout expired",
        "Wrong response from the webhook: 429 Too Many Requests",
        None,
    ]
    assert attempts[2].started - attempts[1].started >= 0.45  # Retry-After 5 s, scaled


async def test_at_most_max_connections_requests_at_once(
    telegram: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    async def slow(body: dict[str, Any]) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        return web.json_response({})

    receiver.answer = slow
    await bot.set_webhook(receiver.url, secret_token=SECRET, max_connections=2)
    ids = [telegram.user_message(chat, "hi") for chat in range(10, 16)]
    await telegram.wait_for(lambda: all(telegram.confirmed(i) for i in ids), timeout=10)
    assert receiver.most_in_flight == 2


async def test_updates_go_to_several_targets_in_turn(telegram: FakeTelegram, bot: Bot) -> None:
    one, runner_one = await start_receiver()
    two, runner_two = await start_receiver()
    try:
        telegram.webhook_targets = [one.url, two.url]
        await bot.set_webhook("http://127.0.0.1:1/hook", secret_token=SECRET)
        ids = [telegram.user_message(7, f"m{i}") for i in range(4)]
        await telegram.wait_for(lambda: telegram.confirmed(ids[-1]))
        assert one.update_ids() == [ids[0], ids[2]]
        assert two.update_ids() == [ids[1], ids[3]]
    finally:
        await runner_one.cleanup()
        await runner_two.cleanup()


async def test_a_round_robin_proxy_spreads_updates_and_skips_a_backend_that_is_down(
    telegram: FakeTelegram, bot: Bot
) -> None:
    one, runner_one = await start_receiver()
    two, runner_two = await start_receiver()
    proxy = RoundRobinProxy([one.url.removesuffix("/hook"), two.url.removesuffix("/hook")])
    await proxy.start()
    try:
        await bot.set_webhook(f"{proxy.base_url}/hook", secret_token=SECRET)
        ids = [telegram.user_message(7, f"m{i}") for i in range(4)]
        await telegram.wait_for(lambda: telegram.confirmed(ids[-1]))
        assert (one.update_ids(), two.update_ids()) == ([ids[0], ids[2]], [ids[1], ids[3]])
        assert all(headers[SECRET_HEADER] == SECRET for _, headers, _ in one.posts + two.posts)
        await runner_two.cleanup()  # one process stops: the other takes every update
        later = [telegram.user_message(8, f"n{i}") for i in range(3)]
        await telegram.wait_for(lambda: telegram.confirmed(later[-1]))
        assert one.update_ids()[2:] == later
    finally:
        await proxy.stop()
        await runner_one.cleanup()
