"""Copy a DATA_DIR's JSON records into PostgreSQL (DATABASE_URL from the environment or
.env): `python -m tools.import_json DATA_DIR [--force]`.

Everything is copied: users, conversations with their memories and pictures, the money
tables with their history (the monthly archive, then the live records over it),
statistics, broadcasts with their delivery logs, and state documents. It streams a batch
at a time (memory stays bounded whatever the data's size), and a second run over the
same DATA_DIR changes nothing. It prints the counts per table.

It refuses a database that holds other data: one a bot has already written into (its
records are newer than the files), one another DATA_DIR was imported into, or one with
records from elsewhere; `--force` imports over them. DATA_DIR is locked meanwhile (no
bot may run on it), and a DATA_DIR in the previous format is converted first, as the
bot's first start would do (its files backed up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import database_url_problem
from services.storage import records
from services.storage.base import Retention, StorageError
from services.storage.images import image_type
from services.storage.journal import archive_months, read_archive_latest
from services.storage.json_documents import DocumentFiles
from services.storage.json_money import read_live_records
from services.storage.json_store import JsonStorage
from services.storage.json_upgrade import needs_upgrade
from services.storage.lock import DataDirBusyError, DataDirLock
from services.storage.postgres import bulk, migrations
from services.storage.postgres.bulk import BulkTable, Counts, Row
from services.storage.postgres.connection import Conn, Database, describe

BATCH = 10_000  # records a batch: memory stays bounded by it
OWNERS_PER_READER = 500  # conversations read through one JSON store (and its caches)
T = TypeVar("T")


class ImportSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )
    database_url: SecretStr

    @field_validator("database_url")
    @classmethod
    def _check(cls, value: SecretStr) -> SecretStr:
        problem = database_url_problem(value.get_secret_value().strip())
        if problem:
            raise ValueError(problem)
        return value


class ImportRefusedError(Exception):
    """The database holds other data (or cannot be used): one line saying which."""


def batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Importer:
    def __init__(self, db: Database, data_dir: Path) -> None:
        self.db = db
        self.data_dir = data_dir
        self.source = str(data_dir.resolve())
        self.counts: dict[str, Counts] = {}
        self.json = JsonStorage(data_dir, Retention(open_payment_seconds=0))
        self._pending: asyncio.Future[None] | None = None

    async def merge(
        self, table: BulkTable, rows: list[Row], *more: tuple[BulkTable, list[Row]]
    ) -> None:
        """Rows into their table (and more tables' rows), in one transaction. It runs while
        the caller reads the next batch: the one before is awaited first."""
        await self.flush()
        self._pending = asyncio.ensure_future(self._merge(((table, rows), *more)))

    async def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def _merge(self, merges: tuple[tuple[BulkTable, list[Row]], ...]) -> None:
        async def merge(conn: Conn) -> list[Counts]:
            async with conn.transaction():
                return [await target.merge(conn, batch) for target, batch in merges]

        merged = await self.db.run(f"copying {merges[0][0].name}", merge)
        for (target, _), counts in zip(merges, merged, strict=True):
            self.counts.setdefault(target.name, Counts()).add(counts)

    async def copy(self, table: BulkTable, rows: Iterable[Row]) -> None:
        for batch in batches(rows):
            await self.merge(table, batch)
        self.counts.setdefault(table.name, Counts())

    # Checks --------------------------------------------------------------------------------
    async def check_target(self, force: bool) -> None:
        writers = await self.db.fetch("checking the database", "SELECT kind, source FROM writers")
        others = [
            (row["kind"], row["source"])
            for row in writers
            if (row["kind"], row["source"]) != ("import", self.source)
        ]
        holds = await self.db.run("checking the database", _holds_records)
        if force:
            return
        if ("store", "") in others:
            raise ImportRefusedError(
                "the bot has already written into this database: its records may be newer "
                "than DATA_DIR's (use --force to import over them)"
            )
        imported = [source for kind, source in others if kind == "import"]
        if imported:
            raise ImportRefusedError(
                f"this database holds an import of another DATA_DIR ({imported[0]}); "
                "use --force to add this one over it"
            )
        if holds and not writers:
            raise ImportRefusedError(
                f"this database already holds records ({holds}) that no import of this "
                "DATA_DIR wrote; use --force to import over them"
            )

    # Copying --------------------------------------------------------------------------------
    async def run(self) -> None:
        await self.db.run(
            "recording the import",
            lambda conn: conn.execute(
                "INSERT INTO writers (kind, source) VALUES ('import', $1)"
                " ON CONFLICT (kind, source) DO UPDATE SET last_at = now()",
                self.source,
            ),
        )
        await self.copy_users()
        await self.copy_conversations()
        await self.copy_money()
        await self.flush()
        await self.db.run("rebuilding promo uses and open invoices", bulk.rebuild_derived)
        await self.copy_documents()
        await self.flush()
        await self.db.run("analyzing", lambda conn: conn.execute("ANALYZE"))  # fresh planner stats

    async def copy_users(self) -> None:
        batch: list[Row] = []
        async for user in self.json.iter_users():
            batch.append(bulk.user_row(user))
            if len(batch) >= BATCH:
                await self.merge(bulk.USERS, batch)
                batch = []
        if batch:
            await self.merge(bulk.USERS, batch)
        self.counts.setdefault(bulk.USERS.name, Counts())

    def owners(self) -> list[int]:
        found: set[int] = set()
        folder = self.data_dir / "conversations"
        if folder.exists():
            found |= {int(p.stem) for p in folder.iterdir() if _numbered(p, ".json")}
        history = self.data_dir / "history"
        if history.exists():  # a folder per owner, or a format-1 memory file
            for path in history.iterdir():
                stem = path.stem if path.suffix == ".json" else path.name
                if stem.lstrip("-").isdigit():
                    found.add(int(stem))
        return sorted(found)

    async def copy_conversations(self) -> None:
        lists: list[Row] = []
        memories: list[Row] = []
        for number, owner in enumerate(self.owners()):
            if number % OWNERS_PER_READER == 0:  # the JSON store caches what it reads
                await self.json.close()
                self.json = JsonStorage(self.data_dir, Retention(open_payment_seconds=0))
            conversations = await self.json.load_conversations(owner)  # format 1: adopted
            if conversations is None:
                continue
            lists.append(bulk.conversations_row(owner, conversations))
            for item in conversations.items:
                turns = await self.json.load_history(owner, item.id)
                if turns:
                    memories.append(bulk.history_row(owner, item.id, turns))
                await self.copy_images(owner, item.id)
            if len(lists) >= BATCH:
                await self.merge(bulk.CONVERSATIONS, lists)
                lists = []
            if len(memories) >= OWNERS_PER_READER:  # memories are long: fewer a batch
                await self.merge(bulk.HISTORY, memories)
                memories = []
        for target, rows in ((bulk.CONVERSATIONS, lists), (bulk.HISTORY, memories)):
            if rows:
                await self.merge(target, rows)
        for table in (bulk.CONVERSATIONS, bulk.HISTORY, bulk.IMAGES):
            self.counts.setdefault(table.name, Counts())

    async def copy_images(self, owner: int, conversation_id: str) -> None:
        media = self.data_dir / "history" / str(owner) / f"{conversation_id}.media"
        if not media.is_dir():
            return
        rows = [
            (owner, conversation_id, path.name, mime, path.read_bytes())
            for path in sorted(media.iterdir())
            if (mime := image_type(path.name)) is not None
        ]
        for batch in batches(rows, 50):  # pictures are large: few at a time
            await self.merge(bulk.IMAGES, batch)

    async def copy_money(self) -> None:
        live = read_live_records(self.data_dir)  # the live set: what the bot keeps in memory
        await self.copy_payments(live.pop(records.PAYMENTS.name))
        simple: list[tuple[records.Table, BulkTable, Callable[[Any], Row]]] = [
            (records.SUBSCRIPTIONS, bulk.SUBSCRIPTIONS, bulk.subscription_row),
            (records.PROMO_CODES, bulk.PROMO_CODES, bulk.promo_row),
            (records.PROMO_ACTIVATIONS, bulk.PROMO_ACTIVATIONS, bulk.activation_row),
            (records.UNMATCHED, bulk.UNMATCHED, bulk.unmatched_row),
            (records.REFERRAL_CODES, bulk.REFERRAL_CODES, bulk.referral_code_row),
            (records.REFERRALS, bulk.REFERRALS, bulk.referral_row),
            (records.OUTBOX, bulk.OUTBOX, bulk.outbox_row),
        ]
        for table, target, row in simple:
            rows = (row(table.load(raw)) for raw in self.history(table, live.pop(table.name)))
            await self.copy(target, rows)
        stars = (
            bulk.stars_rows(records.stars_subscription_from_json(raw))
            for raw in self.history(
                records.STARS_SUBSCRIPTIONS, live.pop(records.STARS_SUBSCRIPTIONS.name)
            )
        )
        for batch in batches(stars):
            charges = [charge for _, charges in batch for charge in charges]
            await self.merge(
                bulk.STARS_SUBSCRIPTIONS, [main for main, _ in batch], (bulk.STARS_CHARGES, charges)
            )
        for name in (bulk.STARS_SUBSCRIPTIONS.name, bulk.STARS_CHARGES.name):
            self.counts.setdefault(name, Counts())

    def history(self, table: records.Table, live: dict[str, Any]) -> Iterator[Any]:
        """A table's records, each once in its latest state: archived months (oldest first,
        a record archived twice in its later month), then the live ones."""
        seen: set[str] = set()
        for month in reversed(archive_months(self.data_dir / "archive" / table.name)):
            for raw in read_archive_latest(month, table.key):
                key = table.key(raw)
                if key not in live and key not in seen:
                    seen.add(key)
                    yield raw
        yield from live.values()

    async def copy_payments(self, live: dict[str, Any]) -> None:
        """Payments are archived by their creation month, each in one month: no key set
        is needed over a million of them."""
        table = records.PAYMENTS

        def history() -> Iterator[Any]:
            for month in archive_months(self.data_dir / "archive" / table.name):
                for raw in read_archive_latest(month, table.key):
                    if table.key(raw) not in live:
                        yield raw
            yield from live.values()

        for batch in batches(history()):
            rows = [bulk.payment_rows(records.payment_from_json(raw)) for raw in batch]
            events = [event for _, events in rows for event in events]
            await self.merge(
                bulk.PAYMENTS, [payment for payment, _ in rows], (bulk.PAYMENT_EVENTS, events)
            )
        for target in (bulk.PAYMENTS, bulk.PAYMENT_EVENTS):
            self.counts.setdefault(target.name, Counts())

    async def copy_documents(self) -> None:
        documents = DocumentFiles(self.data_dir)
        stats = self.data_dir / "stats"
        names = sorted(p.stem for p in stats.glob("*.json")) if stats.exists() else []
        rows = [
            (name, document)
            for name in names
            if (document := documents.load_stats_now(name)) is not None
        ]
        await self.copy(bulk.STATS, rows)
        money_files = {f"{table.name}.json" for table in records.TABLES}
        state_rows: list[Row] = []
        for path in sorted(self.data_dir.glob("*.json")):
            if path.name not in money_files and not path.name.startswith("."):
                document = await documents.load_state(path.stem)
                if document is not None:
                    state_rows.append((path.stem, document))
        await self.copy(bulk.STATE, state_rows)
        deliveries: list[Row] = []
        broadcasts = await documents.load_broadcasts()
        for broadcast in broadcasts:
            tried, outcomes = await documents.read_deliveries(broadcast.id)
            deliveries += [(broadcast.id, user, outcomes.get(user)) for user in sorted(tried)]
        await self.copy(bulk.BROADCASTS, [bulk.broadcast_row(b) for b in broadcasts])
        await self.copy(bulk.DELIVERIES, deliveries)
        await documents.close()


def _numbered(path: Path, suffix: str) -> bool:
    return path.suffix == suffix and path.stem.lstrip("-").isdigit()


async def _holds_records(conn: Conn) -> str:
    """The first table that has rows, or ''."""
    for table in ("users", "payments", "subscriptions", "conversations", "promo_codes"):
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            return table
    return ""


async def import_json(
    dsn: str, data_dir: Path, *, force: bool = False, schema: str | None = None
) -> dict[str, Counts]:
    """Copy DATA_DIR into the database; the counts per table. ImportRefusedError, or
    StorageError, when it cannot."""
    if not (data_dir / "users").is_dir() and not (data_dir / "payments.json").exists():
        raise ImportRefusedError(f"{data_dir} holds no bot data (no users/ nor payments.json)")
    if needs_upgrade(data_dir):  # the previous version's files: converted as at a start
        upgrade = JsonStorage(data_dir, Retention(open_payment_seconds=0))
        await upgrade.open()
        await upgrade.close()
    # Commits need not wait for the disk: an import cut short is simply run again.
    db = Database(dsn, schema=schema, settings={"synchronous_commit": "off"})
    await db.open()
    importer = Importer(db, data_dir)
    try:
        await db.run("migrating", migrations.migrate)
        await importer.check_target(force)
        await importer.run()
        return importer.counts
    finally:
        with contextlib.suppress(Exception):  # a batch still running when another failed
            await importer.flush()
        await importer.json.close()  # memories converted from format 1 are written
        await db.close()


def report(counts: dict[str, Counts], seconds: float) -> str:
    lines = [
        f"{name}: {c.total} ({c.new} new, {c.changed} changed, {c.unchanged} unchanged)"
        for name, c in counts.items()
    ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"Imported in {seconds:.1f} s, peak memory {peak:.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the bot's DATA_DIR")
    parser.add_argument("--force", action="store_true", help="import over other data")
    args = parser.parse_args(argv)
    try:
        settings = ImportSettings()
    except ValidationError as error:
        problem = error.errors()[0]
        reason = "is not set" if problem["type"] == "missing" else problem["msg"]
        print(f"Configuration error: DATABASE_URL {reason.removeprefix('Value error, ')}")
        raise SystemExit(2) from None
    started = time.monotonic()
    try:
        with DataDirLock(args.data_dir) as lock:
            lock.acquire()
            counts = asyncio.run(
                import_json(
                    settings.database_url.get_secret_value(), args.data_dir, force=args.force
                )
            )
    except (ImportRefusedError, DataDirBusyError, StorageError, OSError) as error:
        text = describe(error) if isinstance(error, OSError) else str(error)
        print(f"Import refused: {text}", file=sys.stderr)
        raise SystemExit(2) from None
    print(report(counts, time.monotonic() - started))


if __name__ == "__main__":
    main()
