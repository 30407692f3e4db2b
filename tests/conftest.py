"""Fixtures every layer shares: the local stand-ins, each started on a free port.

`telegram` (the Bot API emulator), `llm` (the OpenAI-compatible server) and `yoomoney`
(the YooMoney API); `shared_redis`: the real Redis (TEST_REDIS_URL, default
127.0.0.1:6379) under a key prefix of the test's own, its keys deleted after (a Redis
that does not answer fails the test with one line). Factories for users, messages and
updates are in tests/factories.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from runtime.redis import ping
from services.shared.state import SharedState
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram
from tests.stubs.yoomoney_server import FakeYooMoney

TOKEN = "123456:TEST-e2e-token"
TEST_KEY = "sk-test"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PORT = urlsplit(REDIS_URL).port or 6379  # for a cuttable proxy in front of it


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI(TEST_KEY)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def yoomoney() -> AsyncIterator[FakeYooMoney]:
    server = FakeYooMoney()
    await server.start()
    yield server
    await server.stop()


def unique_prefix() -> str:
    """A key prefix no other test (xdist worker, helper) uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


async def redis_client() -> Redis:
    """A client of the test Redis; the test fails with one line if it does not answer."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await ping(client)
    except Exception as error:
        await client.aclose()
        pytest.fail(f"Redis at {REDIS_URL} does not answer ({error}); start it", pytrace=False)
    return client


async def delete_prefix(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)


class SharedStates:
    """Views of shared state on the test Redis made during a test: `view()` a new prefix,
    `view(prefix)` another process's view of it; `close()` deletes their keys and closes
    their clients."""

    def __init__(self) -> None:
        self._views: list[SharedState] = []

    async def view(self, prefix: str | None = None) -> SharedState:
        shared = SharedState(await redis_client(), prefix or unique_prefix())
        self._views.append(shared)
        return shared

    async def close(self) -> None:
        for shared in self._views:
            assert shared.redis is not None
            await delete_prefix(shared.redis, shared.prefix)
            await shared.redis.aclose()


@pytest.fixture
async def shared_redis() -> AsyncIterator[SharedState]:
    """Shared state on the real Redis under a prefix of this test's own (deleted after).
    Another "process" on the same Redis: `SharedState(await redis_client(), prefix)`."""
    client = await redis_client()
    prefix = unique_prefix()
    yield SharedState(client, prefix)
    await delete_prefix(client, prefix)
    await client.aclose()
