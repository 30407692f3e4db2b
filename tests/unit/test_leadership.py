"""One process leads the singleton jobs; another takes over when the leader's
connection dies (its process killed), and a leader cut off learns it lost the lead."""

from __future__ import annotations

import asyncio
import os
import secrets

import asyncpg
import pytest
from aiogram import Bot

from runtime.leader import Leadership, PostgresLeadership
from runtime.tasks import BackgroundTasks

DATABASE = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


async def _database() -> str:
    try:
        conn = await asyncpg.connect(DATABASE, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        pytest.fail(f"PostgreSQL not reachable (TEST_DATABASE_URL): {error!r}", pytrace=False)
    await conn.close()
    return DATABASE


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def terminate_holder(dsn: str, key: int) -> None:
    """End the session holding the lock, as a killed process's (or a cut network's)."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted "
            "AND ((classid::bigint << 32) | objid::bigint) = $1",
            key,
        )
    finally:
        await admin.close()


async def test_one_leads_and_the_other_takes_over_when_the_leader_dies() -> None:
    dsn = await _database()
    key = secrets.randbits(62)  # this test's own lock
    first = PostgresLeadership(dsn, key=key, interval=0.1)
    second = PostgresLeadership(dsn, key=key, interval=0.1)
    await first.start()
    await second.start()
    try:
        assert first.leading and not second.leading
        await asyncio.sleep(0.3)
        assert not second.leading  # it keeps trying, the lock is held
        assert first._task is not None
        first._task.cancel()  # the leader's process dies: no more tries from it...
        await terminate_holder(dsn, key)  # ...and its session goes with it
        await wait_for(lambda: second.leading)
    finally:
        await first.stop()
        await second.stop()


async def test_a_leader_whose_connection_is_cut_learns_it_lost_the_lead() -> None:
    dsn = await _database()
    key = secrets.randbits(62)
    first = PostgresLeadership(dsn, key=key, interval=0.1)
    second = PostgresLeadership(dsn, key=key, interval=0.1)
    lost: list[bool] = []

    async def told(leading: bool) -> None:
        if not leading:
            lost.append(True)

    first.listeners.append(told)
    await first.start()
    await second.start()
    try:
        await terminate_holder(dsn, key)
        await wait_for(lambda: bool(lost))  # it stopped leading (its jobs stopped)...
        await wait_for(lambda: first.leading != second.leading)  # ...and one leads again
    finally:
        await first.stop()
        await second.stop()


async def test_a_stopped_leader_hands_over_at_once() -> None:
    dsn = await _database()
    key = secrets.randbits(62)
    first = PostgresLeadership(dsn, key=key, interval=0.1)
    second = PostgresLeadership(dsn, key=key, interval=0.1)
    await first.start()
    await second.start()
    try:
        await first.stop()
        await wait_for(lambda: second.leading)
    finally:
        await second.stop()


async def test_singleton_loops_run_only_while_this_process_leads() -> None:
    leadership = Leadership()
    leadership.leading = False
    tasks = BackgroundTasks(leadership)
    ran: list[str] = []

    async def job(_: Bot) -> None:
        ran.append("job")
        await asyncio.Event().wait()

    async def everywhere(_: Bot) -> None:
        ran.append("everywhere")
        await asyncio.Event().wait()

    tasks.add("job", job, singleton=True)
    tasks.add("everywhere", everywhere)
    await tasks.start(Bot("1:a"))
    await asyncio.sleep(0)
    assert ran == ["everywhere"]
    leadership.leading = True
    await leadership._tell(True)
    await asyncio.sleep(0)
    assert ran == ["everywhere", "job"]
    await leadership._tell(False)
    await tasks.stop()
