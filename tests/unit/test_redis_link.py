"""REDIS_URL: checked at start-up with one line (never the password), watched while the
bot runs (one log line when Redis goes, one when it is back), reported by /health."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from runtime.health import Health
from runtime.redis import (
    RedisProbe,
    RedisUnavailableError,
    client_for,
    create_redis,
    redis_location,
)
from services.shared.link import RedisLink, SharedStateUnavailableError
from services.shared.state import SharedState
from tests.conftest import REDIS_PORT, REDIS_URL
from tests.e2e.conftest import free_port
from tests.stubs.tcp_proxy import TcpProxy

TOKEN = "123456:" + "A" * 35


def settings(**values: object):
    return load_settings(_env_file=None, bot_token=TOKEN, **values)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:6379", "must start with redis://"),
        ("redis://", "needs a host"),
        ("redis://127.0.0.1:port", "malformed host or port"),
        ("redis://127.0.0.1:6379/zero", "database number"),
        ("redis://:pass word@127.0.0.1:6379", "space"),
    ],
)
def test_a_malformed_redis_url_is_one_line_without_the_url(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(redis_url=url)
    assert str(caught.value).startswith("Configuration error: REDIS_URL ")
    assert says in str(caught.value)
    assert "pass word" not in str(caught.value)


def test_the_prefix_is_checked_and_an_empty_url_is_not_set() -> None:
    with pytest.raises(ConfigError, match="REDIS_PREFIX"):
        settings(redis_prefix="a b")
    assert settings(redis_url="").redis_url is None
    assert redis_location("redis://user:secret@cache.example:6380/2") == "cache.example:6380/2"
    assert "s3cr3t" not in repr(settings(redis_url="redis://:s3cr3t@h:1/0"))


async def test_no_url_no_client_and_an_unreachable_redis_stops_start_up_in_one_line() -> None:
    assert await create_redis(settings()) is None
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailableError) as caught:
        await create_redis(settings(redis_url=url))
    text = str(caught.value)
    assert text.startswith("Redis error: REDIS_URL (127.0.0.1:")
    assert "\n" not in text
    assert "hunter2" not in text


async def test_a_wrong_password_is_said_without_it() -> None:
    url = REDIS_URL.replace("redis://", "redis://:not-the-password@")
    with pytest.raises(RedisUnavailableError) as caught:
        await create_redis(settings(redis_url=url))
    assert "not-the-password" not in str(caught.value)


async def test_a_reachable_redis_is_reported_healthy(tmp_path: Path) -> None:
    client = await create_redis(settings(redis_url=REDIS_URL))
    assert client is not None
    health = Health(tmp_path, max_poll_age=60)
    health.polled()
    health.redis = RedisProbe(client, RedisLink())
    status, body = await health.report()
    assert (status, body["status"], body["redis_reachable"]) == (200, "ok", True)
    await client.aclose()
    assert "redis_reachable" not in (await Health(tmp_path, max_poll_age=60).report())[1]


async def test_redis_going_and_coming_back_is_one_line_each_and_health_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = TcpProxy("127.0.0.1", REDIS_PORT)
    await proxy.start()
    client = client_for(f"redis://127.0.0.1:{proxy.port}/0")
    link = RedisLink()
    probe = RedisProbe(client, link)
    health = Health(tmp_path, max_poll_age=60)
    health.polled()
    health.redis = probe
    shared = SharedState(client, "unused", link)
    try:
        caplog.set_level(logging.INFO, logger="services.shared.link")
        assert await probe.check() is None
        proxy.cut()
        for _ in range(3):  # the probe and the users of Redis see it, the log once
            probe._checked = -10.0
            assert await probe.check() is not None
            with pytest.raises(SharedStateUnavailableError):
                await link.call(lambda: client.get(shared.key("x")))
        status, body = await health.report()
        assert (status, body["status"], body["redis_reachable"]) == (
            503,
            "redis_unreachable",
            False,
        )
        proxy.restore()
        probe._checked = -10.0
        assert await probe.check() is None
        assert (await health.report())[0] == 200
        lines = [r.getMessage() for r in caplog.records if r.name == "services.shared.link"]
        assert len(lines) == 2, lines
        assert lines[0].startswith("Redis unreachable (")
        assert lines[1] == "Redis reachable again"
    finally:
        await client.aclose()
        await proxy.stop()
