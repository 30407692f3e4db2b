"""The real bot with REDIS_URL: what processes share lives in Redis and outlives a
process (each test under a Redis key prefix of its own, deleted after)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import REDIS_PORT, REDIS_URL, delete_prefix, redis_client, unique_prefix
from tests.e2e.conftest import StartBot, free_port
from tests.e2e.test_startup import wait_health
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.tcp_proxy import TcpProxy
from tests.stubs.telegram_server import FakeTelegram

USER = 4401


@pytest.fixture
async def redis_env() -> AsyncIterator[dict[str, str | None]]:
    """REDIS_URL and a prefix of this test's own for the bot."""
    client = await redis_client()
    prefix = unique_prefix()
    yield {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix}
    await delete_prefix(client, prefix)
    await client.aclose()


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory"])
async def test_a_promo_prompt_still_waits_after_kill_9_and_a_restart(
    telegram: FakeTelegram,
    llm: FakeOpenAI,
    start_bot: StartBot,
    redis_env: dict[str, str | None],
    shared: bool,
) -> None:
    env = redis_env if shared else {"REDIS_URL": None}
    bot = await start_bot(env)
    telegram.user_message(USER, "/promo")
    await telegram.wait_for_message(USER, "Отправьте промокод")
    bot.kill()
    await bot.wait()
    await start_bot(env)
    telegram.user_message(USER, "NOSUCHCODE")
    if shared:  # the prompt outlived the process: the code is checked, no model asked
        await telegram.wait_for_message(USER, "Такого промокода нет")
        assert llm.requests == []
    else:  # in memory the prompt died with the process: the text went to the model
        await telegram.wait_for_message(USER, "Echo: NOSUCHCODE")


async def test_an_unreachable_redis_stops_start_up_with_one_line_and_code_2(
    start_bot: StartBot,
) -> None:
    port = free_port()
    bot = await start_bot({"REDIS_URL": f"redis://:hunter2@127.0.0.1:{port}/0"}, wait_polling=False)
    assert await bot.wait(timeout=30) == 2
    log = bot.log_text()
    assert f"Redis error: REDIS_URL (127.0.0.1:{port}/0) does not answer" in log
    assert "hunter2" not in log
    assert "Traceback" not in log


async def test_redis_going_away_is_said_refused_politely_and_recovered_without_doubles(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, redis_env: dict[str, str | None]
) -> None:
    proxy = TcpProxy("127.0.0.1", REDIS_PORT)
    await proxy.start()
    try:
        bot = await start_bot({**redis_env, "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"})
        telegram.user_message(USER, "раз")
        await telegram.wait_for_message(USER, "Echo: раз")
        proxy.cut()
        body = await wait_health(bot, 503, timeout=15)
        assert body["status"] == "redis_unreachable" and body["redis_reachable"] is False
        telegram.user_message(USER, "два")  # cannot be queued safely: refused, not answered
        await telegram.wait_for_message(USER, "Бот сейчас не может это сделать")
        proxy.restore()
        await wait_health(bot, 200, timeout=15)
        telegram.user_message(USER, "три")
        await telegram.wait_for_message(USER, "Echo: три")
        await telegram.wait_idle(USER, quiet=1.0)
        assert llm.user_messages() == ["раз", "три"]  # "два" neither answered nor doubled
        log = bot.log_text()
        assert log.count("Redis unreachable") == 1
        assert log.count("Redis reachable again") == 1
    finally:
        await proxy.stop()
