"""The Redis client (REDIS_URL) shared state lives in: made and pinged at start-up (an
unreachable Redis stops the bot with one line), watched while the bot runs (one log line
when it stops answering, one when it answers again; `/health` reports it), closed last.
redis-py reconnects by itself, so the bot recovers without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import cast
from urllib.parse import urlsplit

from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from config import Settings
from services.shared.link import UNREACHABLE, RedisLink, describe

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0  # seconds to open a connection
COMMAND_TIMEOUT = 5.0  # seconds a command may take (the scripts take microseconds)
RETRIES = 2  # a dropped connection is retried this often, with backoff, before failing
WATCH_INTERVAL = 5.0  # seconds between pings while the bot runs
PROBE_TTL = 2.0  # seconds a /health ping is reused


class RedisUnavailableError(Exception):
    """Redis did not answer at start-up; the message is one line without the password."""


def redis_location(url: str) -> str:
    """Where REDIS_URL points, without its user or password: host:port/db or the socket."""
    parsed = urlsplit(url)
    if parsed.scheme == "unix":
        return parsed.path or "unix socket"
    database = parsed.path.strip("/") or "0"
    return f"{parsed.hostname}:{parsed.port or 6379}/{database}"


def client_for(url: str) -> Redis:
    """A client with bounded timeouts and retries (no command waits forever)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=COMMAND_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), RETRIES),
        health_check_interval=30,
    )


async def ping(client: Redis) -> None:
    await cast(Awaitable[bool], client.ping())  # redis-py types it for both clients


async def create_redis(settings: Settings) -> Redis | None:
    """The client for REDIS_URL, pinged; None without REDIS_URL. RedisUnavailableError
    (one line) when it does not answer or refuses the password."""
    if settings.redis_url is None:
        return None
    url = settings.redis_url.get_secret_value()
    client = client_for(url)
    try:
        await ping(client)
    except (RedisError, *UNREACHABLE) as error:
        await client.aclose()
        reason = describe(error).replace(url, "REDIS_URL")  # never the password
        raise RedisUnavailableError(
            f"Redis error: REDIS_URL ({redis_location(url)}) does not answer ({reason}); "
            "start Redis or correct REDIS_URL (redis://:password@host:6379/0), or leave it "
            "empty to keep shared state in this process"
        ) from None
    await warn_without_durability(client)
    logger.info("Shared state in Redis at %s", redis_location(url))
    return client


async def warn_without_durability(client: Redis) -> None:
    """One line when Redis keeps nothing on disk (no appendonly, no snapshots): a Redis
    restart would then forget the quota counters, whose floor is only what this process
    saw (see services/shared/quota)."""
    try:
        config = await client.config_get("appendonly") | await client.config_get("save")
    except RedisError:  # managed Redis often refuses CONFIG: its operator's durability
        return
    if config.get(b"appendonly", b"") == b"no" and not config.get(b"save", b"").strip():
        logger.warning(
            "Redis keeps nothing on disk (appendonly no, no save points): a Redis restart "
            "forgets shared state; set appendonly yes"
        )


async def close_redis(client: Redis | None) -> None:
    if client is not None:
        with contextlib.suppress(RedisError, *UNREACHABLE):
            await client.aclose()


class RedisProbe:
    """Pings Redis for `/health` (a ping reused for PROBE_TTL) and every WATCH_INTERVAL
    while the bot runs, so the link logs an outage even when no user needs Redis."""

    def __init__(self, client: Redis, link: RedisLink) -> None:
        self._client = client
        self.link = link
        self._checked = -PROBE_TTL

    async def check(self) -> str | None:
        """Why Redis does not answer now, or None."""
        now = asyncio.get_running_loop().time()
        if now - self._checked >= PROBE_TTL:
            self._checked = now
            try:
                await asyncio.wait_for(ping(self._client), COMMAND_TIMEOUT)
            except (RedisError, *UNREACHABLE) as error:
                self.link.failed(error)
            else:
                self.link.succeeded()
        return self.link.problem

    async def watch(self, interval: float = WATCH_INTERVAL) -> None:
        while True:
            await self.check()
            await asyncio.sleep(interval)


FSM_TTL = 7 * 86_400  # seconds a prompt's state and data stay untouched before they expire


class SharedFsmStorage(RedisStorage):
    """aiogram's RedisStorage on the bot's one client. aiogram closes its storage first at
    shutdown; the client outlives that (answers still release their queues with it) and
    is closed last, by bot.py."""

    async def close(self) -> None:
        return None


def fsm_storage(client: Redis, prefix: str) -> SharedFsmStorage:
    """FSM states in Redis under `<prefix>:fsm:<bot id>:<chat>:<user>:state|data`, kept
    FSM_TTL after their last change."""
    return SharedFsmStorage(
        client,
        key_builder=DefaultKeyBuilder(prefix=f"{prefix}:fsm", with_bot_id=True),
        state_ttl=FSM_TTL,
        data_ttl=FSM_TTL,
    )
