"""Stop and Retry across processes: two chat services ("processes", each its own store
and Redis client) on one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.redis import client_for
from services.catalog import Catalog
from services.chat.chat import ChatService
from services.models import ChatTurn
from services.shared.bus import EventBus
from services.shared.link import SharedStateUnavailableError
from services.shared.retry import RedisRetries
from services.shared.state import SharedState
from tests.conftest import REDIS_PORT, delete_prefix, unique_prefix
from tests.stubs.tcp_proxy import TcpProxy
from tests.unit.conftest import another_process
from tests.unit.test_chat import ScriptedLLM, collect, make, nano_user


@contextlib.asynccontextmanager
async def listening(bus: EventBus | None) -> AsyncIterator[None]:
    """The process's event listener, as runtime/shared.py runs it."""
    assert bus is not None
    task = asyncio.create_task(bus.listen())
    await asyncio.wait_for(bus.listening.wait(), 5)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def two(
    tmp_path: Path, catalog: Catalog, shared_redis: SharedState
) -> AsyncIterator[tuple[ChatService, ScriptedLLM, ChatService, SharedState]]:
    other = await another_process(shared_redis)
    one, llm, *_ = await make(tmp_path / "a", catalog, shared_redis)
    two, *_ = await make(tmp_path / "b", catalog, other)
    yield one, llm, two, other
    assert other.redis is not None
    await other.redis.aclose()


async def test_a_stop_on_one_process_stops_the_answer_on_the_other_at_once(
    two: tuple[ChatService, ScriptedLLM, ChatService, SharedState], shared_redis: SharedState
) -> None:
    one, llm, other, _ = two
    llm.delay = 30
    user = nano_user()
    async with listening(shared_redis.bus):
        answer = asyncio.create_task(collect(one, user, "long"))
        await asyncio.sleep(0.2)
        assert not answer.done()
        pressed = time.monotonic()
        assert await other.cancel(user.id)  # Stop, handled by the other process
        assert await asyncio.wait_for(answer, 1.0) == ""  # stopped, within a second
        assert time.monotonic() - pressed < 0.5  # (the event, not the keeper's look)
    assert not await other.cancel(user.id)  # nothing runs now, anywhere


async def test_a_stop_event_missed_is_seen_by_the_answers_keeper(
    two: tuple[ChatService, ScriptedLLM, ChatService, SharedState],
) -> None:
    """The writing process is not listening (its subscription reconnects): its keeper
    finds the Stop's key at its next look, within a second or so."""
    one, llm, other, _ = two
    llm.delay = 30
    user = nano_user()
    answer = asyncio.create_task(collect(one, user, "long"))
    await asyncio.sleep(0.2)
    assert await other.cancel(user.id)
    assert await asyncio.wait_for(answer, 2.5) == ""


async def test_a_stop_for_an_earlier_answer_does_not_end_the_next(
    two: tuple[ChatService, ScriptedLLM, ChatService, SharedState], shared_redis: SharedState
) -> None:
    one, llm, other, _ = two
    user = nano_user()
    async with listening(shared_redis.bus):
        assert await collect(one, user, "quick") == "re: quick"
        assert not await other.cancel(user.id)  # the answer is over: nothing to stop
        llm.delay = 1.5
        assert await collect(one, user, "next") == "re: next"  # not stopped by the old key


async def test_retry_is_remembered_for_every_process_and_a_restart(
    shared_redis: SharedState,
) -> None:
    other = await another_process(shared_redis)
    try:
        here, there = RedisRetries(shared_redis), RedisRetries(other)
        question = ChatTurn("user", "как дела?", ("img-1",))
        await here.remember_request(5, "c1", question)
        await here.remember_answer(5, 5, 77)
        assert await there.last_request(5) == ("c1", question)
        assert await there.last_answer(5) == (5, 77)
        await there.forget(5)
        assert await here.last_request(5) is None
        assert await here.last_answer(5) == (5, 77)  # its button is still where it was
    finally:
        assert other.redis is not None
        await other.redis.aclose()


async def test_cancel_stops_an_answer_written_here_while_redis_is_away(
    tmp_path: Path, catalog: Catalog
) -> None:
    proxy = TcpProxy("127.0.0.1", REDIS_PORT)
    await proxy.start()
    shared = SharedState(client_for(f"redis://127.0.0.1:{proxy.port}/0"), unique_prefix())
    try:
        chat, llm, *_ = await make(tmp_path, catalog, shared)
        llm.delay = 30
        user = nano_user()
        answer = asyncio.create_task(collect(chat, user, "long"))
        await asyncio.sleep(0.3)
        proxy.cut()
        assert await chat.cancel(user.id)  # /cancel or Stop handled here: still stops
        assert await asyncio.wait_for(answer, 2) == ""
        with pytest.raises(SharedStateUnavailableError):
            await chat.cancel(user.id)  # nothing here: whether one runs elsewhere is unknown
    finally:
        proxy.restore()
        assert shared.redis is not None
        await delete_prefix(shared.redis, shared.prefix)
        await shared.redis.aclose()
        await proxy.stop()
