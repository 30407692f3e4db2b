"""Statistics counted by two processes on one shared store add up: each adds what it
counted since its last save to the stored document, so neither overwrites the other."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest

from services.operator.stats import StatsService
from services.storage.base import Storage
from services.storage.memory import MemoryStorage
from services.storage.postgres import PostgresStorage
from tests.postgres import database_url, fresh_schema
from tests.unit.conftest import RETENTION

MSK = ZoneInfo("Europe/Moscow")
NOON = dt.datetime(2026, 12, 6, 12, tzinfo=MSK).timestamp()
Stores = Callable[[], Storage]


@pytest.fixture(params=["memory", "postgres"])
async def shared_store(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    """A new process's view of one shared store, each call."""
    async with contextlib.AsyncExitStack() as stack:
        schema = (
            await stack.enter_async_context(fresh_schema()) if request.param == "postgres" else None
        )
        made: list[Storage] = []

        def store() -> Storage:
            if schema is not None:
                view: Storage = PostgresStorage(database_url(), RETENTION, schema=schema)
            elif made:
                view = made[0].another_process()  # type: ignore[attr-defined]
            else:
                view = MemoryStorage(RETENTION)
            made.append(view)
            return view

        yield store
        for view in made:
            await view.close()


async def process(store: Storage) -> StatsService:
    await store.open()
    stats = StatsService(store, MSK, clock=lambda: NOON)
    await stats.load()
    return stats


def count(stats: StatsService, users: range) -> None:
    for user in users:
        stats.user_seen(user, is_new=True)
        stats.count_request(user, "gpt-5-nano", 100)
        stats.spend(user, "gpt-5-nano", 1.5, plan="premium1", tokens=10)


async def test_two_processes_counting_the_same_day_add_up(shared_store: Stores) -> None:
    first, second = await process(shared_store()), await process(shared_store())
    count(first, range(0, 10))
    count(second, range(5, 20))  # five users seen by both
    await asyncio.gather(first.flush(), second.flush())
    count(first, range(100, 103))
    await first.flush()
    await second.flush()
    for stats in (first, second, await process(shared_store())):  # and a restarted one
        ((_, today),) = await stats.last_days(1)
        assert today.new_users == 28
        assert len(today.active) == 23
        assert sum(used[0] for used in today.usage.values()) == 28
        assert today.plan_costs == {"premium1": pytest.approx(28 * 1.5)}
    restarted = await process(shared_store())
    assert restarted.tokens_this_month(5, "premium1") == 20  # counted by both processes


async def test_counts_made_while_a_save_is_in_flight_are_kept(shared_store: Stores) -> None:
    first = await process(shared_store())
    count(first, range(0, 5))
    flushing = asyncio.create_task(first.flush())
    await asyncio.sleep(0)
    count(first, range(5, 8))  # counted while the write is on its way
    await flushing
    await first.flush()
    ((_, today),) = await (await process(shared_store())).last_days(1)
    assert today.new_users == 8
