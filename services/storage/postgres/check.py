"""`python bot.py --check` on PostgreSQL: reachable, and migrated or migratable; the live
money read (nothing written, no migration run)."""

from __future__ import annotations

from services.storage.base import MoneyState, Retention, StorageError
from services.storage.postgres.connection import Database, describe
from services.storage.postgres.migrations import applied_versions, check_known, migrations
from services.storage.postgres.money import MoneyTables

CHECK_RETRY_SECONDS = 5.0


class DatabaseCheckError(StorageError):
    """The database cannot be used: one line naming its host and database and why."""


async def check_database(dsn: str) -> tuple[str, MoneyState | None]:
    """What the check found (one clause), and the live money when the schema is current."""
    db = Database(dsn, retry_seconds=CHECK_RETRY_SECONDS)
    try:
        conn = await db.connect()
    except Exception as error:
        raise DatabaseCheckError(
            f"Storage error: PostgreSQL {db.label} not reachable ({describe(error)})"
        ) from None
    try:
        todo = check_known(await applied_versions(conn), migrations())
    except StorageError as error:
        raise DatabaseCheckError(f"Storage error: PostgreSQL {db.label}: {error}") from None
    finally:
        await conn.close()
    if todo:
        names = ", ".join(f"{m.version:03d}_{m.name}" for m in todo)
        return f"PostgreSQL {db.label} reachable, to migrate at start-up ({names})", None
    await db.open()
    try:
        money = await MoneyTables(db, Retention(open_payment_seconds=0)).load()
    finally:
        await db.close()
    found = (
        f"PostgreSQL {db.label} reachable and migrated ({len(money.payments)} live payments, "
        f"{len(money.subscriptions)} subscriptions, {len(money.promo_codes)} promo codes)"
    )
    return found, money
