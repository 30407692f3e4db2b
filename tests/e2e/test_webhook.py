"""Webhook mode through the real bot: the emulator posts updates to WEBHOOK_URL as the Bot
API server does (per-chat queues, the next after a 2xx, retries of anything else)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edge.callbacks import AnswerAct, AnswerControl
from tests.conftest import REDIS_URL, delete_prefix, redis_client, unique_prefix
from tests.e2e.conftest import BotProcess, StartBot, free_port
from tests.e2e.test_startup import one_line, run_once
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram
from tests.stubs.webhook_delivery import SECRET_HEADER

SECRET = "e2e_webhook-secret-0123456789"
PATH = "/telegram/webhook"
USER = 811
RETRY = AnswerControl(action=AnswerAct.RETRY)


@pytest.fixture(autouse=True)
def quick_retries(telegram: FakeTelegram) -> None:
    telegram.webhook_retry_scale = 0.05  # Telegram's 2 s, 4 s... as 0.1 s, 0.2 s...


def webhook_env(port: int | None = None, **extra: str) -> dict[str, str]:
    port = port or free_port()
    return {
        "WEB_PORT": str(port),
        "WEBHOOK_URL": f"http://127.0.0.1:{port}{PATH}",  # the emulator accepts http locally
        "WEBHOOK_SECRET": SECRET,
        **extra,
    }


async def get_health(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/health") as response,
    ):
        return response.status, await response.json()


async def start_webhook_bot(
    start_bot: StartBot, env: Mapping[str, str | None], timeout: float = 30
) -> BotProcess:
    """Start the bot and return once it takes updates (its /health: ok, webhook)."""
    bot = await start_bot(env, wait_polling=False)
    port = int(env["WEB_PORT"] or 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bot.returncode is not None:
            raise AssertionError(f"bot exited with {bot.returncode}:\n{bot.log_text()}")
        try:
            status, body = await get_health(port)
            if status == 200 and body.get("mode") == "webhook":
                return bot
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"the webhook bot did not start in {timeout} s:\n{bot.log_text()}")


async def post(url: str, body: dict[str, Any], secret: str | None = SECRET) -> tuple[int, str]:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=json.dumps(body), headers=headers) as response,
    ):
        return response.status, await response.text()


def answers_to(telegram: FakeTelegram, chat_id: int, text: str) -> int:
    return sum(text in message.text for message in telegram.messages(chat_id))


async def test_the_bot_sets_its_webhook_answers_a_message_and_a_button_and_keeps_health(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    env = webhook_env(WEBHOOK_MAX_CONNECTIONS="7")
    await start_webhook_bot(start_bot, env)
    (call,) = telegram.calls("setWebhook")
    assert call["url"] == env["WEBHOOK_URL"]
    assert call["secret_token"] == SECRET
    assert {"message", "callback_query", "pre_checkout_query"} <= set(call["allowed_updates"])
    assert "chat_member" not in call["allowed_updates"]  # only the types handled
    assert str(call.get("drop_pending_updates", "false")).lower() == "false"
    assert telegram.webhook is not None and telegram.webhook.max_connections == 7
    answers = iter(["первый вариант", "второй вариант"])
    llm.reply = lambda body: next(answers)
    telegram.user_message(USER, "Расскажи анекдот")
    first = await telegram.wait_for_message(USER, "первый вариант")
    telegram.press(USER, first, RETRY)  # a button: a callback query through the webhook
    await telegram.wait_for_message(USER, "второй вариант")
    assert telegram.pollers == 0  # no getUpdates in webhook mode
    await telegram.wait_for(lambda: telegram.pending_updates == 0)
    assert all(attempt.ok for attempt in telegram.webhook_attempts), telegram.webhook_attempts
    status, body = await get_health(int(env["WEB_PORT"]))  # /health on the same port
    assert (status, body["status"], body["mode"]) == (200, "ok", "webhook")


async def test_a_post_without_or_with_a_wrong_secret_gets_401_and_changes_nothing(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    env = webhook_env()
    await start_webhook_bot(start_bot, env)
    update = {
        "update_id": 777001,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": USER, "type": "private", "first_name": "Eve"},
            "from": {"id": USER, "is_bot": False, "first_name": "Eve", "language_code": "ru"},
            "text": "/start",
        },
    }
    for secret in (None, "", "wrong", SECRET[:-1], SECRET + "x"):
        status, text = await post(env["WEBHOOK_URL"], update, secret)
        assert (status, text) == (401, "Unauthorized")
    await asyncio.sleep(0.3)
    assert telegram.messages(USER) == []
    assert not (data_dir / "users" / f"{USER}.json").exists()  # not even registered
    status, _ = await post(env["WEBHOOK_URL"], update)  # the right secret: taken
    assert status == 200
    await telegram.wait_for_message(USER, "Привет")


async def test_the_same_update_delivered_twice_is_answered_once(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    env = webhook_env()
    await start_webhook_bot(start_bot, env)
    update_id = telegram.user_message(USER, "/help")
    await telegram.wait_for(lambda: telegram.confirmed(update_id))
    await telegram.wait_for_message(USER, "/new")
    copy = telegram.update(update_id)
    results = await asyncio.gather(*(post(env["WEBHOOK_URL"], copy) for _ in range(2)))
    assert [status for status, _ in results] == [200, 200]  # Telegram stops resending
    # Two copies of another update at once, as two deliveries racing: one answer.
    second = telegram.user_message(USER + 1, "/help")
    await telegram.wait_for(lambda: telegram.confirmed(second))
    racing = telegram.update(second)
    await asyncio.gather(*(post(env["WEBHOOK_URL"], racing) for _ in range(3)))
    await asyncio.sleep(0.5)
    assert len(telegram.messages(USER)) == 1
    assert len(telegram.messages(USER + 1)) == 1


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory"])
async def test_a_copy_after_kill_9_and_a_restart_is_dropped_when_claims_are_in_redis(
    telegram: FakeTelegram, start_bot: StartBot, shared: bool
) -> None:
    """Claims in Redis outlive the process: a copy Telegram sends to the restarted process
    (its first answer was lost with the killed one) is not answered again. In memory
    (one process, no REDIS_URL) the restarted process cannot know it."""
    prefix = unique_prefix()
    env: dict[str, str | None] = {**webhook_env(), "REDIS_URL": None}  # None: not even E2E_REDIS
    if shared:
        env.update(REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
    try:
        bot = await start_webhook_bot(start_bot, env)
        update_id = telegram.user_message(USER, "/help")
        await telegram.wait_for(lambda: telegram.confirmed(update_id))
        bot.kill()
        await bot.wait()
        await start_webhook_bot(start_bot, env)
        status, _ = await post(str(env["WEBHOOK_URL"]), telegram.update(update_id))
        assert status == 200
        await asyncio.sleep(0.5)
        assert len(telegram.messages(USER)) == (1 if shared else 2)
    finally:
        client = await redis_client()
        await delete_prefix(client, prefix)
        await client.aclose()


async def test_cancel_reaches_the_bot_while_an_answer_is_written_and_a_burst_keeps_its_order(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    """The chat's queue is not held while an answer is written: the update is answered
    once its message is in the user's queue, so what follows arrives meanwhile."""
    env = webhook_env()
    await start_webhook_bot(start_bot, env)
    llm.delay_first = 0.8
    for number in range(1, 6):
        telegram.user_message(USER, f"сообщение {number}")
    await telegram.wait_for_message(USER, "сообщение 5", timeout=15)
    assert len(llm.requests) == 2  # the first alone, the four behind it together, in order
    assert llm.user_messages()[1] == "\n\n".join(f"сообщение {n}" for n in range(2, 6))
    llm.hang_next = 1
    telegram.user_message(USER, "ответ, который не придёт")
    await telegram.wait_for(lambda: llm.active == 1)
    telegram.user_message(USER, "/cancel")
    await telegram.wait_for_message(USER, "остановлен", timeout=5)


async def test_an_update_sent_during_shutdown_is_answered_once_after_the_restart(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    env = webhook_env(SHUTDOWN_GRACE="6")
    bot = await start_webhook_bot(start_bot, env)
    llm.delay_first = 1.5  # an answer in flight keeps the stopping process up a while
    telegram.user_message(USER, "долгий вопрос")
    await telegram.wait_for(lambda: llm.active == 1)
    bot.terminate()
    await asyncio.sleep(0.3)
    during = telegram.user_message(USER + 1, "/help")
    refused = await telegram.wait_for(
        lambda: [a for a in telegram.webhook_posts(during) if a.status == 503]
    )
    assert refused  # the stopping process took nothing
    assert await bot.wait(15) == 0
    await telegram.wait_for_message(USER, "Echo: долгий вопрос")  # finished before exiting
    assert not telegram.confirmed(during)
    await start_webhook_bot(start_bot, env)
    await telegram.wait_for(lambda: telegram.confirmed(during), timeout=15)
    await asyncio.sleep(0.3)
    assert len(telegram.messages(USER + 1)) == 1  # answered once, by the new process
    assert telegram.webhook_posts(during)[-1].ok


async def test_restarts_while_updates_arrive_lose_none_and_double_none(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    """A stream of /help from five users across a SIGTERM restart and a kill -9 restart.
    Each update is answered once; after kill -9 one that was being handled may be answered
    twice only if the kill cut its request (Telegram never had its 2xx)."""
    env = webhook_env()
    users = [USER + 10 + n for n in range(5)]
    sent: list[int] = []
    bot = await start_webhook_bot(start_bot, env)

    async def stream(count: int) -> None:
        for n in range(count):
            sent.append(telegram.user_message(users[n % len(users)], "/help"))
            await asyncio.sleep(0.03)

    async def restart(kill: bool) -> None:
        nonlocal bot
        feeding = asyncio.create_task(stream(40))
        await asyncio.sleep(0.4)
        if kill:
            bot.kill()
        else:
            bot.terminate()
        await bot.wait(15)
        bot = await start_webhook_bot(start_bot, env)
        await feeding

    await restart(kill=False)
    await restart(kill=True)
    # A request the kill cut leaves a Redis claim (E2E_REDIS=1) that lapses after 15 s.
    await telegram.wait_for(lambda: all(telegram.confirmed(i) for i in sent), timeout=60)
    await asyncio.sleep(0.5)
    answered = sum(len(telegram.messages(user)) for user in users)
    cut = {a.update_id for a in telegram.webhook_attempts if a.status is None}
    assert len(sent) == 80
    assert len(sent) <= answered <= len(sent) + len(cut), (answered, cut)
    per_update = Counter(a.update_id for a in telegram.webhook_attempts if a.ok)
    assert set(per_update) == set(sent)


async def test_polling_works_though_a_webhook_was_left_set(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    """Back to polling (WEBHOOK_URL emptied): the webhook left set is deleted at start, and
    the update that waited for it is kept and answered."""
    bot = await start_webhook_bot(start_bot, webhook_env())
    bot.kill()
    await bot.wait()
    waiting = telegram.user_message(USER, "/help")  # the webhook is down: it waits
    await telegram.wait_for(lambda: telegram.webhook_posts(waiting))
    assert telegram.webhook is not None
    await start_bot()  # polling: returns once it polls
    await telegram.wait_for_message(USER, "/new")
    assert telegram.webhook is None
    assert len(telegram.messages(USER)) == 1


async def test_set_webhook_is_retried_while_telegram_is_unreachable(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await telegram.stop()
    env = webhook_env()
    bot = await start_bot(env, wait_polling=False)
    port = int(env["WEB_PORT"])
    deadline = time.monotonic() + 30
    while "Telegram unreachable" not in bot.log_text():
        assert time.monotonic() < deadline and bot.returncode is None, bot.log_text()
        await asyncio.sleep(0.05)
    status, body = await get_health(port)  # the web server answers meanwhile
    assert (status, body["status"]) == (503, "telegram_unreachable")
    await telegram.start(telegram.port)  # Telegram is back: the retry sets the webhook
    await telegram.wait_for(lambda: telegram.webhook, timeout=15)
    telegram.user_message(USER, "/help")
    await telegram.wait_for_message(USER, "/new", timeout=15)
    assert bot.log_text().count("Telegram unreachable") == 1  # said once, not per retry
    assert "Telegram reachable again" in bot.log_text()


async def test_a_webhook_telegram_refuses_stops_start_up_with_one_line(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    port = free_port()
    env = webhook_env(port, WEBHOOK_URL=f"http://example.com:{port}{PATH}")
    bot = await start_bot(env, wait_polling=False)
    assert await bot.wait(30) == 2
    last = bot.log_text().strip().splitlines()[-1]
    assert last == (
        "Configuration error: WEBHOOK_URL or WEBHOOK_SECRET was refused by Telegram (Bad "
        "Request: bad webhook: An HTTPS URL must be provided for webhook); WEBHOOK_URL must be "
        "the public https:// address Telegram can reach (port 443, 80, 88 or 8443)"
    )
    assert SECRET not in bot.log_text()
    assert telegram.webhook is None


@pytest.mark.real_start
async def test_check_names_a_missing_webhook_secret_in_one_line(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path
) -> None:
    env = {**webhook_env(), "WEBHOOK_SECRET": ""}
    code, out, err = await run_once(telegram, llm, data_dir, env, "--check")
    assert code == 2 and out == ""
    assert one_line(err).startswith(
        "Configuration error: WEBHOOK_SECRET is required with WEBHOOK_URL; it must be 1-256"
    )
    code, out, _ = await run_once(telegram, llm, data_dir, webhook_env(), "--check")
    assert code == 0 and one_line(out).startswith("OK: ")
