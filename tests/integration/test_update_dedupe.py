"""Update dedupe (edge/update_claims.py): the production Dispatcher answers a copy of an
update once; the middleware's claims release an update whose handling failed or was cut,
wait for a copy's other holder, and lapse for a holder that died; the Redis claims shared
by two "processes" on the real Redis at 127.0.0.1:6379 (a key prefix of the test's own)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message
from redis.asyncio import Redis

from edge.update_claims import (
    DONE_TTL,
    Claim,
    MemoryClaims,
    RedisClaims,
    UpdateClaims,
    UpdateDedupe,
)
from services.shared.state import SharedState
from tests import factories
from tests.conftest import delete_prefix, redis_client, unique_prefix
from tests.integration.conftest import Harness, RecordingSession

USER = 301


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = await redis_client()  # one clear line if Redis does not answer
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted after."""
    name = unique_prefix()
    yield name
    await delete_prefix(redis, name)


def help_update(update_id: int) -> Any:
    return factories.update(update_id, message=factories.message(USER, "/help", message_id=7))


async def test_the_same_update_twice_is_answered_once(harness: Harness) -> None:
    await harness.feed(help_update(5001))
    await harness.feed(help_update(5001))
    assert len(harness.session.texts_to(USER)) == 1
    await harness.feed(help_update(5002))  # another update with the same text is answered
    assert len(harness.session.texts_to(USER)) == 2


async def test_two_copies_at_once_are_answered_once(harness: Harness) -> None:
    await asyncio.gather(harness.feed(help_update(5003)), harness.feed(help_update(5003)))
    assert len(harness.session.texts_to(USER)) == 1


class Scripted:
    """A dispatcher with only the dedupe middleware and one message handler whose
    behaviour each test scripts: its calls are counted."""

    def __init__(self, claims: UpdateClaims, *, poll: float = 0.02) -> None:
        self.dispatcher = Dispatcher()
        self.dedupe = UpdateDedupe(claims, poll=poll)
        self.dispatcher.update.outer_middleware(self.dedupe)
        self.bot = Bot("42:TEST", session=RecordingSession())
        self.calls = 0
        self.gate: asyncio.Event | None = None  # set: the handler waits for it
        self.fail = False
        self.dispatcher.message.register(self._handle)

    async def _handle(self, message: Message) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("the handler broke")

    async def feed(self, update_id: int) -> Any:
        return await self.dispatcher.feed_update(self.bot, help_update(update_id))


async def test_a_failed_update_is_released_so_its_copy_is_handled() -> None:
    scripted = Scripted(MemoryClaims())
    scripted.fail = True
    with pytest.raises(RuntimeError):
        await scripted.feed(1)
    scripted.fail = False
    await scripted.feed(1)
    await scripted.feed(1)  # handled now: this copy is dropped
    assert scripted.calls == 2
    assert scripted.dedupe.dropped == 1


async def test_an_update_cut_by_a_shutdown_is_released() -> None:
    scripted = Scripted(MemoryClaims())
    scripted.gate = asyncio.Event()
    first = asyncio.create_task(scripted.feed(2))
    await asyncio.sleep(0.05)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    scripted.gate = None
    await scripted.feed(2)
    assert scripted.calls == 2


async def test_a_copy_waits_for_its_holder_then_is_dropped_or_handled() -> None:
    scripted = Scripted(MemoryClaims())
    scripted.gate = asyncio.Event()
    first = asyncio.create_task(scripted.feed(3))
    copy = asyncio.create_task(scripted.feed(3))
    await asyncio.sleep(0.1)
    assert scripted.calls == 1 and not copy.done()  # the copy waits
    scripted.gate.set()
    await asyncio.gather(first, copy)
    assert scripted.calls == 1 and scripted.dedupe.dropped == 1
    # The holder fails: the waiting copy is handled.
    scripted.gate, scripted.fail = asyncio.Event(), True
    first = asyncio.create_task(scripted.feed(4))
    await asyncio.sleep(0.05)
    copy = asyncio.create_task(scripted.feed(4))
    await asyncio.sleep(0.05)
    scripted.gate.set()
    with pytest.raises(RuntimeError):
        await first
    scripted.fail = False
    await copy
    assert scripted.calls == 3


async def test_memory_claims_forget_a_done_update_after_a_day() -> None:
    now = [0.0]
    claims = MemoryClaims(clock=lambda: now[0])
    assert await claims.take(9) is Claim.OWN
    assert await claims.take(9) is Claim.BUSY
    await claims.finish(9)
    now[0] = DONE_TTL - 1
    assert await claims.take(9) is Claim.DONE
    now[0] = DONE_TTL + 1
    assert await claims.take(9) is Claim.OWN


async def test_redis_claims_are_shared_by_two_processes(redis: Redis, prefix: str) -> None:
    shared = SharedState(redis, prefix)
    one, two = RedisClaims(shared, 42), RedisClaims(shared, 42)
    assert one.key(7) == f"{prefix}:update:42:7"
    assert [await one.take(7), await two.take(7)] == [Claim.OWN, Claim.BUSY]
    await two.release(7)  # not its claim: nothing changes
    await two.finish(7)
    assert await two.take(7) is Claim.BUSY
    await one.finish(7)
    assert await two.take(7) is Claim.DONE
    assert DONE_TTL - 5 < await redis.ttl(one.key(7)) <= DONE_TTL
    assert await one.take(8) is Claim.OWN
    await one.release(8)
    assert await two.take(8) is Claim.OWN


async def test_a_redis_claim_of_a_holder_that_died_lapses(redis: Redis, prefix: str) -> None:
    dead = RedisClaims(SharedState(redis, prefix), 42, lease=0.3)
    alive = RedisClaims(SharedState(redis, prefix), 42, lease=0.3)
    assert await dead.take(10) is Claim.OWN  # then killed: never finishes nor renews
    assert await alive.take(10) is Claim.BUSY
    await asyncio.sleep(0.45)
    assert await alive.take(10) is Claim.OWN


async def test_a_long_handling_keeps_its_redis_claim_and_the_copy_elsewhere_is_dropped(
    redis: Redis, prefix: str
) -> None:
    a = Scripted(RedisClaims(SharedState(redis, prefix), 42, lease=0.3))
    b = Scripted(RedisClaims(SharedState(redis, prefix), 42, lease=0.3))
    a.gate = asyncio.Event()
    first = asyncio.create_task(a.feed(11))
    await asyncio.sleep(0.05)
    copy = asyncio.create_task(b.feed(11))  # Telegram's copy, at the other process
    await asyncio.sleep(1.0)  # three leases: renewed meanwhile
    assert b.calls == 0 and not copy.done()
    a.gate.set()
    await asyncio.gather(first, copy)
    assert (a.calls, b.calls, b.dedupe.dropped) == (1, 0, 1)


async def test_redis_unreachable_handles_updates_unclaimed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    scripted = Scripted(RedisClaims(SharedState(gone, "unused"), 42))
    with caplog.at_level(logging.WARNING):
        await scripted.feed(12)
        await scripted.feed(13)
    await gone.aclose()
    assert scripted.calls == 2
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2, lines  # said once each, not per update
    assert lines[0].startswith("Redis unreachable")
    assert lines[1] == "Updates are handled without dedupe until Redis answers"
