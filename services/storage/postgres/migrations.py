"""Numbered SQL migrations (`migrations/NNN_name.sql`), applied at open under a lock.

`schema_migrations` lists those applied. Two processes starting together: the first to
take the advisory lock (one per schema) applies what is missing, each file in a
transaction of its own; the other waits for the lock and then finds nothing to do.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from services.storage.base import StorageError
from services.storage.postgres.connection import AnyConn

logger = logging.getLogger(__name__)

FOLDER = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
LOCK_KEY = "hashtext(current_schema() || ':migrations')"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(folder: Path = FOLDER) -> list[Migration]:
    found = []
    for path in sorted(folder.iterdir()):
        match = _NAME.match(path.name)
        if match is not None:
            found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StorageError(f"migrations must be numbered 001, 002, ... without gaps: {versions}")
    return found


async def applied_versions(conn: AnyConn) -> set[int]:
    """The versions applied (none when there is no schema_migrations table yet)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    rows = await conn.fetch("SELECT version FROM schema_migrations")
    return {int(row["version"]) for row in rows}


def check_known(applied: set[int], known: list[Migration]) -> list[Migration]:
    """The migrations still to apply; StorageError for a database a newer version made."""
    newer = sorted(applied - {m.version for m in known})
    if newer:
        raise StorageError(
            f"the database has migration {newer[-1]}, newer than this version of the bot "
            f"knows ({len(known)}): run the newer version, or restore a backup"
        )
    return [m for m in known if m.version not in applied]


async def migrate(conn: AnyConn) -> list[int]:
    """Apply what is missing (under the lock); returns the versions applied now."""
    await conn.execute(f"SELECT pg_advisory_lock({LOCK_KEY})")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        todo = check_known(await applied_versions(conn), migrations())
        for migration in todo:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            logger.info("Database migration %03d_%s applied", migration.version, migration.name)
        return [m.version for m in todo]
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock({LOCK_KEY})")
