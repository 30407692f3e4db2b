"""The connection pool, and every operation run through it with bounded retries.

PostgreSQL restarted (or a network blip): an operation waits and tries again, on a new
connection, for up to `retry_seconds`, then raises StorageError. Every operation of the
store is safe to repeat (upserts, and a commit carries its own transaction id), so a
try that may have landed before its connection died is simply run again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from services.storage.base import StorageError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Conn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
AnyConn: TypeAlias = "PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]"
RETRY_SECONDS = 30.0
FIRST_DELAY, MAX_DELAY = 0.1, 2.0
CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
PROBE_TIMEOUT = 3.0  # the health check's one try

# Errors that mean "the server is not there just now", not "the request is wrong".
_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or was closed
    asyncpg.CannotConnectNowError,  # starting up, or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, _TRANSIENT):
        return True
    return isinstance(error, asyncpg.InterfaceError) and "closed" in str(error)


def describe(error: BaseException) -> str:
    """One short line (no DSN: asyncpg's texts name at most the host and the user)."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


def database_label(dsn: str) -> str:
    """host:port/database of a URL, for logs: never the user or the password."""
    try:
        parts = urlsplit(dsn)
        host, port = parts.hostname or "localhost", parts.port or 5432
    except ValueError:
        return "(malformed URL)"
    database = parts.path.lstrip("/") or "(default database)"
    return f"{host}:{port}/{database}"


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary format: a version byte, then text


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def setup_connection(conn: Any) -> None:
    """jsonb in and out through orjson (records and dataclasses as they are)."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        format="binary",
    )


async def _reset(conn: Any) -> None:
    """Before a connection goes back to the pool. asyncpg's default resets every session
    setting (advisory locks, cursors, LISTEN, RESET ALL): a round trip after every
    operation. The store keeps no session state on pooled connections (the session-level
    locks are on connections of their own), so only an open transaction is ended."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class Database:
    """A pool on one database (and schema), and `run` with retries."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        retry_seconds: float = RETRY_SECONDS,
        max_size: int = 10,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.label = database_label(dsn) + (f" (schema {schema})" if schema else "")
        self.retry_seconds = retry_seconds
        self._max_size = max_size
        self._settings = settings or {}
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self.outage: str | None = None  # why the last try failed, while retrying

    @property
    def server_settings(self) -> dict[str, str]:
        settings = {"application_name": "ai-models-bot", **self._settings}
        if self.schema:
            settings["search_path"] = self.schema
        return settings

    async def connect(self) -> asyncpg.Connection[asyncpg.Record]:
        """A connection of its own, outside the pool (the leader lock, a blocking read)."""
        conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            server_settings=self.server_settings,
        )
        await setup_connection(conn)
        return conn

    async def open(self) -> None:
        async def create() -> asyncpg.Pool[asyncpg.Record]:
            return await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self._max_size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                init=setup_connection,
                reset=_reset,
                server_settings=self.server_settings,
            )

        self._pool = await self._retrying("connecting", create)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def run(self, what: str, operation: Callable[[Conn], Awaitable[T]]) -> T:
        """`operation` on a pooled connection, tried again on a new one while the server
        is unreachable (up to retry_seconds); StorageError after that."""

        async def once() -> T:
            if self._pool is None:
                raise StorageError("the PostgreSQL store is not open")
            async with self._pool.acquire() as conn:
                return await operation(conn)

        return await self._retrying(what, once)

    async def fetch(self, what: str, query: str, *args: object) -> list[asyncpg.Record]:
        """One query's rows (with retries, as `run`)."""

        async def fetch(conn: Conn) -> list[asyncpg.Record]:
            return await conn.fetch(query, *args)

        return await self.run(what, fetch)

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.retry_seconds
        delay = FIRST_DELAY
        while True:
            try:
                result = await attempt()
            except Exception as error:
                if not is_transient(error):
                    raise
                self._failed(error)
                if time.monotonic() + delay > deadline:
                    raise StorageError(
                        f"PostgreSQL {self.label} unreachable for {self.retry_seconds:g} s "
                        f"while {what} ({describe(error)})"
                    ) from error
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            if self.outage is not None:
                logger.info("PostgreSQL %s reachable again", self.label)
                self.outage = None
            return result

    def _failed(self, error: BaseException) -> None:
        problem = describe(error)
        if self.outage is None:
            logger.warning("PostgreSQL %s unreachable (%s); retrying", self.label, problem)
        self.outage = problem

    async def problem(self) -> str | None:
        """Why the database cannot be used just now (one quick try), or None."""
        if self._pool is None:
            return "not open"
        try:
            async with asyncio.timeout(PROBE_TIMEOUT), self._pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception as error:
            return describe(error)
        return None
