"""PostgreSQL for tests: a fresh schema (or database) per test, under TEST_DATABASE_URL.

.ci/run points TEST_DATABASE_URL at a database made for the run; by hand it defaults to
the local server. A server that cannot be reached fails the test with one line.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


async def connect(url: str | None = None) -> asyncpg.Connection[asyncpg.Record]:
    url = url or database_url()
    try:
        conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        where = urlsplit(url)
        pytest.fail(
            f"PostgreSQL not reachable at {where.hostname}:{where.port or 5432}{where.path} "
            f"(TEST_DATABASE_URL): {type(error).__name__}: {error}",
            pytrace=False,
        )
    return conn


@contextlib.asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A new empty schema in the test database, dropped afterwards."""
    name = unique_name("test")
    conn = await connect()
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
        yield name
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new empty database on the test server (its URL), dropped afterwards."""
    name = unique_name("test")
    conn = await connect()
    try:
        await conn.execute(f"CREATE DATABASE {name}")
        parts = urlsplit(database_url())
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()


async def _ci(command: str, name: str) -> None:
    conn = await asyncpg.connect(database_url(), timeout=10)
    try:
        if command == "create":
            await conn.execute(f"CREATE DATABASE {name}")
        else:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


if __name__ == "__main__":  # .ci/run: python -m tests.postgres create|drop NAME
    import asyncio
    import sys

    command, name = sys.argv[1], sys.argv[2]
    try:
        asyncio.run(_ci(command, name))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        where = urlsplit(database_url())
        print(
            f"PostgreSQL not reachable at {where.hostname}:{where.port or 5432} "
            f"(TEST_DATABASE_URL): {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    if command == "create":
        print(urlunsplit(urlsplit(database_url())._replace(path=f"/{name}")))
