"""Which process runs the singleton jobs (payment checks, reminders, the outbox, the Stars
ledger, the money watch, model checks, broadcasts) when several share one database.

One process at a time leads: it holds a PostgreSQL advisory lock on a connection of its
own (not a pooled one: the lock belongs to the session that took it). The server drops
the lock the moment that connection dies, with its process or not, and another process
takes the lead at its next try (every `interval` seconds). A leader that loses its
connection stops leading at once; it may lead again once it gets the lock back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from services.storage.postgres.connection import database_label

logger = logging.getLogger(__name__)

LEADER_LOCK = 0x61_69_62_6F_74_01  # "aibot" + 1: the advisory lock key of the lead
SOLE_LOCK = 0x61_69_62_6F_74_03  # "aibot" + 3: one process on a database without Redis
TRY_INTERVAL = 5.0  # seconds between tries to take the lead, and between liveness checks
Listener = Callable[[bool], Awaitable[None]]


class Leadership:
    """The lead of a process alone: always held (one process per DATA_DIR, or a
    database that one process uses)."""

    def __init__(self) -> None:
        self.leading = True
        self.listeners: list[Listener] = []

    async def start(self) -> None:
        await self._tell(self.leading)

    async def stop(self) -> None:
        return None

    async def _tell(self, leading: bool) -> None:
        for listener in self.listeners:
            await listener(leading)


class PostgresLeadership(Leadership):
    """The lead taken with `pg_try_advisory_lock` on a dedicated connection."""

    def __init__(self, dsn: str, *, key: int = LEADER_LOCK, interval: float = TRY_INTERVAL) -> None:
        super().__init__()
        self.leading = False
        self._dsn = dsn
        self._key = key
        self._interval = interval
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._try()  # a lone process leads before its loops start
        self._task = asyncio.create_task(self._watch(), name="leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._set(False)
        await self._drop()  # closing the session releases the lock

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._try()

    async def _try(self) -> None:
        if self._conn is None or self._conn.is_closed():
            if self.leading:  # the session that held the lock is gone, and the lock with it
                logger.warning("Lost the lead (its database connection closed)")
                await self._set(False)
            self._conn = None
        try:
            if self._conn is None:
                self._conn = await asyncpg.connect(self._dsn, timeout=self._interval * 2)
            if self.leading:
                await self._conn.fetchval("SELECT 1", timeout=self._interval)  # still ours
                return
            took = await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", self._key, timeout=self._interval
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            if self.leading:
                logger.warning("Lost the lead (database connection: %s)", type(error).__name__)
            await self._drop()
            await self._set(False)
            return
        if took:
            logger.info("This process leads the singleton jobs")
            await self._set(True)

    async def _set(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            await self._tell(leading)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=self._interval)
            if not conn.is_closed():
                conn.terminate()


class DatabaseBusyError(Exception):
    """Another bot process uses the database, and this one cannot share it (no Redis)."""


class SoleProcess:
    """On PostgreSQL without Redis, one bot process per database: answer queues, flood
    control and quotas are in the process's memory then. The lock (like DATA_DIR's) is
    held for the process's life on a connection of its own; a second process stops with
    one line, or waits `wait` seconds for the first to go (a rolling redeploy)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None

    async def acquire(self, wait: float = 0.0, *, key: int = SOLE_LOCK) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        self._conn = await asyncpg.connect(self._dsn, timeout=10)
        while not await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
            if loop.time() >= deadline:
                await self.release()
                raise DatabaseBusyError(
                    f"Storage error: the database {database_label(self._dsn)} is in use by "
                    "another bot process; several processes need REDIS_URL too (README, "
                    "Several processes), or set DATA_LOCK_WAIT for a rolling redeploy."
                )
            await asyncio.sleep(1.0)

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
