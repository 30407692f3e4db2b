"""Broadcast pacing, 429/403 handling and resuming without duplicates."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest

from services.operator.broadcast import Broadcast, BroadcastService, RetryLaterError, SendOutcome
from services.storage.base import Storage
from services.storage.json_store import JsonStorage
from services.storage.memory import MemoryStorage
from services.storage.postgres import PostgresStorage
from tests.postgres import database_url, fresh_schema
from tests.unit.conftest import RETENTION


async def test_every_user_once_despite_429_and_blocked() -> None:
    service = BroadcastService(MemoryStorage(RETENTION), rate=2000, concurrency=4)
    broadcast = await service.create(1, text="hi")
    sent: Counter[int] = Counter()
    limited = {10, 20}

    async def send(_: Broadcast, user_id: int) -> SendOutcome:
        if user_id in limited:
            limited.discard(user_id)
            raise RetryLaterError(0.05)
        if user_id % 7 == 0:
            return "blocked"
        sent[user_id] += 1
        return "delivered"

    progress: list[int] = []

    async def on_progress(b: Broadcast) -> None:
        progress.append(b.processed)

    done = await service.run(broadcast, list(range(1, 301)), send, on_progress, progress_every=0)
    assert done.status == "done"
    assert done.blocked == 42 and done.delivered == 258 and done.failed == 0
    assert set(sent) == {u for u in range(1, 301) if u % 7} and max(sent.values()) == 1
    assert progress[-1] == 300


async def test_resume_after_a_crash_never_sends_twice(tmp_path: Path) -> None:
    service = BroadcastService(JsonStorage(tmp_path, RETENTION), rate=5000, concurrency=3)
    broadcast = await service.create(1, text="hi")
    sent: Counter[int] = Counter()

    async def send(_: Broadcast, user_id: int) -> SendOutcome:
        sent[user_id] += 1
        await asyncio.sleep(0)
        return "delivered"

    async def on_progress(_: Broadcast) -> None:
        return None

    task = asyncio.create_task(service.run(broadcast, list(range(1000)), send, on_progress))
    while sum(sent.values()) < 300:
        await asyncio.sleep(0.001)
    task.cancel()  # the process dies mid-broadcast
    await asyncio.gather(task, return_exceptions=True)

    restarted = BroadcastService(JsonStorage(tmp_path, RETENTION), rate=5000)  # from its files
    (pending,) = await restarted.unfinished()
    done = await restarted.run(pending, list(range(1000)), send, on_progress)
    assert max(sent.values()) == 1
    assert done.delivered + done.skipped == 1000 and done.skipped <= 3
    assert done.status == "done"


async def test_cancel_stops_the_broadcast() -> None:
    service = BroadcastService(MemoryStorage(RETENTION), rate=100, concurrency=1)
    broadcast = await service.create(1, text="hi")

    async def send(_: Broadcast, user_id: int) -> SendOutcome:
        return "delivered"

    async def on_progress(_: Broadcast) -> None:
        return None

    task = asyncio.create_task(service.run(broadcast, list(range(1000)), send, on_progress))
    await asyncio.sleep(0.1)
    assert service.cancel(broadcast.id)
    done = await task
    assert done.status == "cancelled" and 0 < done.delivered < 100


async def test_a_kill_while_sends_wait_for_their_pace_skips_only_the_sends_in_flight() -> None:
    """Users waiting for their slot (or out a 429 pause) are not marked tried yet: a kill
    then skips for good only the users whose send had really begun."""
    storage = MemoryStorage(RETENTION)
    service = BroadcastService(storage, rate=20, concurrency=4)
    broadcast = await service.create(1, text="hi")
    started: list[int] = []
    limited = {3}

    async def send(_: Broadcast, user_id: int) -> SendOutcome:
        started.append(user_id)
        if user_id in limited:
            limited.discard(user_id)
            raise RetryLaterError(5.0)  # everybody waits out the pause
        return "delivered"

    async def on_progress(_: Broadcast) -> None:
        return None

    task = asyncio.create_task(service.run(broadcast, list(range(1, 101)), send, on_progress))
    while 3 not in started:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # the workers now wait out the 429 pause
    task.cancel()  # the process dies
    await asyncio.gather(task, return_exceptions=True)
    tried, results = await storage.read_deliveries(broadcast.id)
    never_sent = tried - set(results)
    assert never_sent <= {3}, never_sent  # only the send that met the 429 was in flight


@pytest.mark.parametrize("kind", ["memory", "postgres"])
async def test_two_processes_running_one_broadcast_reach_each_user_once(kind: str) -> None:
    """A leader that lost its lead but not yet its sends, and the one taking over: the
    delivery log's mark is the claim, so every user gets the message once."""
    async with contextlib.AsyncExitStack() as stack:
        if kind == "postgres":
            schema = await stack.enter_async_context(fresh_schema())
            first: Storage = PostgresStorage(database_url(), RETENTION, schema=schema)
            second: Storage = PostgresStorage(database_url(), RETENTION, schema=schema)
        else:
            first = MemoryStorage(RETENTION)
            second = first.another_process()
        for store in (first, second):
            await store.open()
            stack.push_async_callback(store.close)
        broadcast = await BroadcastService(first, rate=5000).create(1, text="hi")
        sent: Counter[int] = Counter()

        async def send(_: Broadcast, user_id: int) -> SendOutcome:
            sent[user_id] += 1
            await asyncio.sleep(0)
            return "delivered"

        async def on_progress(_: Broadcast) -> None:
            return None

        users = list(range(1, 201))
        copy = await BroadcastService(second, rate=5000).get(broadcast.id)
        assert copy is not None
        await asyncio.gather(
            BroadcastService(first, rate=5000).run(broadcast, users, send, on_progress),
            BroadcastService(second, rate=5000).run(copy, users, send, on_progress),
        )
        assert set(sent) == set(users) and max(sent.values()) == 1
