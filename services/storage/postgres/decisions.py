"""Money decisions of every process on one database, one at a time.

The lock is a session-level advisory lock taken on a connection of this process's own
(not a pooled one: the waiters would hold pooled connections the holder needs for its
commit). Within the process an asyncio lock comes first, so one decision of it at a
time waits on the database. A process that dies mid-decision takes its session, and
the lock, with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator

import asyncpg

from services.storage.base import StorageError
from services.storage.postgres.connection import Database, describe, is_transient

DECISION_LOCK = 0x61_69_62_6F_74_02  # "aibot" + 2


def lock_key(base: int, schema: str | None) -> int:
    """The advisory lock key of this database's schema (several schemas share a server's
    lock space: the tests' fresh schemas, or two bots on one database)."""
    return base ^ (zlib.crc32((schema or "").encode()) << 16)


class Decisions:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._key = lock_key(DECISION_LOCK, db.schema)
        self._local = asyncio.Lock()
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self._local:
            conn = await self._locked()
            try:
                yield
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock($1)", self._key)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await self.close()  # the session is gone, and its lock with it

    async def _locked(self) -> asyncpg.Connection[asyncpg.Record]:
        for attempt in range(2):  # a connection that died since the last decision: anew
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._db.connect()
                await self._conn.execute("SELECT pg_advisory_lock($1)", self._key)
                return self._conn
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                await self.close()
                if attempt or not is_transient(error):
                    raise StorageError(f"money decision lock: {describe(error)}") from error
        raise AssertionError("unreachable")

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)
            if not conn.is_closed():
                conn.terminate()
