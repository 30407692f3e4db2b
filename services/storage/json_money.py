"""The money records as files: a transaction journal beside one snapshot per table.

A commit appends one journal line (`journal/<n>.jsonl`, fsynced, appends that queue up
share one fsync) after the money rules' check (`MoneyRules`). A compaction, in a worker
thread, folds the journal into the snapshots (`<table>.json`) and appends the records
that left the live set (see `Retention`) to `archive/<table>/<YYYY-MM>.jsonl`.
Start-up reads the snapshots and the journal after them: the live records only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from services.storage import json_upgrade, records
from services.storage.atomic import DamagedFileError
from services.storage.base import MoneyState, Retention, StorageDamagedError, Transaction
from services.storage.journal import (
    ArchiveWriter,
    Journal,
    LineBuffer,
    backup_path,
    journal_numbers,
    journal_path,
    read_journal,
    read_snapshot,
    write_snapshot,
)
from services.storage.json_files import DataFiles
from services.storage.json_upgrade import snapshot_path, split_format_1_promo
from services.storage.records import Record, Table
from services.storage.rules import MoneyRules

logger = logging.getLogger(__name__)

T = TypeVar("T")
MIN_COMPACTION_BYTES = 8 << 20  # compact when the journal outgrows this and the snapshots


class MoneyFiles:
    def __init__(self, files: DataFiles, retention: Retention) -> None:
        self._files = files
        self.data_dir = files.data_dir
        self.retention = retention
        self.journal_dir = files.data_dir / "journal"
        self._journal: Journal | None = None
        self._live_bytes = 0
        self._compaction: asyncio.Task[None] | None = None
        self._compaction_lock = asyncio.Lock()
        self._rules: MoneyRules | None = None  # built by load (or the first commit)
        self._rules_lock = asyncio.Lock()

    async def open(self) -> None:
        """A fresh journal file; the format-1 upgrade, once; DamagedFileError -> one line."""
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        start = await asyncio.to_thread(self.guard, self._first_journal_number)
        self._journal = Journal(self.journal_dir, start)
        self._journal.on_error = self._files.tell
        if await asyncio.to_thread(self.guard, lambda: json_upgrade.needs_upgrade(self.data_dir)):
            await asyncio.to_thread(self.guard, lambda: self._upgrade(start - 1))
        self._live_bytes = await asyncio.to_thread(self._snapshot_bytes)

    async def close(self) -> None:
        if self._compaction is not None:
            await asyncio.gather(self._compaction, return_exceptions=True)
        if self._journal is not None:
            await self._journal.close()

    # Reading -------------------------------------------------------------------------------
    async def load(self) -> MoneyState:
        return await asyncio.to_thread(self.guard, self._load)

    def _load(self) -> MoneyState:
        tables = load_live_records(self.data_dir)

        def loaded(table: Table) -> list[Any]:
            return list(tables.pop(table.name).values())

        state = MoneyState(
            payments=loaded(records.PAYMENTS),
            subscriptions=loaded(records.SUBSCRIPTIONS),
            promo_codes=loaded(records.PROMO_CODES),
            promo_activations=loaded(records.PROMO_ACTIVATIONS),
            unmatched=loaded(records.UNMATCHED),
            stars_subscriptions=loaded(records.STARS_SUBSCRIPTIONS),
            referral_codes=loaded(records.REFERRAL_CODES),
            referrals=loaded(records.REFERRALS),
            outbox=loaded(records.OUTBOX),
        )
        rules = MoneyRules(self.retention)
        rules.load(state)
        self._rules = rules
        return state

    async def _money_rules(self) -> MoneyRules:
        """The rules' index: from `load`, or read once for a commit that came first."""
        if self._rules is None:
            async with self._rules_lock:
                if self._rules is None:
                    await self.load()
        assert self._rules is not None
        return self._rules

    # Writing -------------------------------------------------------------------------------
    async def commit(self, transaction: Transaction) -> None:
        if not transaction:
            return
        assert self._journal is not None, "open() first"
        put = {
            name: rows
            for name, rows in (
                (records.PAYMENTS.name, transaction.payments),
                (records.SUBSCRIPTIONS.name, transaction.subscriptions),
                (records.PROMO_CODES.name, transaction.promo_codes),
                (records.PROMO_ACTIVATIONS.name, transaction.promo_activations),
                (records.UNMATCHED.name, transaction.unmatched),
                (records.STARS_SUBSCRIPTIONS.name, transaction.stars_subscriptions),
                (records.REFERRAL_CODES.name, transaction.referral_codes),
                (records.REFERRALS.name, transaction.referrals),
                (records.OUTBOX.name, transaction.outbox),
            )
            if rows
        }
        entry: dict[str, Any] = {"put": put}
        if transaction.deleted_promo_codes:
            entry["del"] = {records.PROMO_CODES.name: transaction.deleted_promo_codes}
        line = orjson.dumps(entry)
        rules = self._rules if self._rules is not None else await self._money_rules()
        undo = rules.claim(transaction)  # ConflictError: nothing written
        written = asyncio.ensure_future(self._journal.append(line))
        written.add_done_callback(lambda task: _undo_if_failed(task, undo))
        await asyncio.shield(written)  # a cancelled caller: the line lands all the same
        if self._journal.bytes_written > max(MIN_COMPACTION_BYTES, self._live_bytes):
            self._start_compaction()

    # Compaction ----------------------------------------------------------------------------
    def _start_compaction(self) -> None:
        if self._compaction is None or self._compaction.done():
            self._compaction = asyncio.create_task(self.maintain(), name="compaction")

    async def maintain(self) -> None:
        """Fold the journal into the snapshots and archive what left the live set."""
        assert self._journal is not None, "open() first"
        async with self._compaction_lock:
            closed = await self._journal.rotate()
            started = time.monotonic()
            try:
                self._live_bytes = await asyncio.to_thread(self._compact, closed, time.time())
            except Exception as error:
                logger.exception("Compaction failed")
                await self._files.tell(f"Storage compaction failed: {error}")
                return
            logger.info("Compacted money records in %.2f s", time.monotonic() - started)
            if self._rules is not None:
                self._rules.prune(self.retention, time.time())

    def _compact(self, closed: int, now: float) -> int:
        """Snapshots as of journal `closed`; returns their total size.

        Streams each snapshot a record at a time (a format-1 file may hold millions),
        applying the journal's changes, so memory holds the journal and the live set.
        Promo codes are written last: in format 1 they held the activations, which must
        be in their own snapshot before the codes drop them.
        """
        starts = {t.name: read_snapshot(self._snapshot_path(t))[0] for t in records.TABLES}
        changed, deleted = journal_changes(self.journal_dir, starts, closed)
        live = {
            table.name: self._compact_table(table, changed, deleted[table.name], now)
            for table in records.TABLES
        }
        for table in sorted(records.TABLES, key=lambda t: t is records.PROMO_CODES):
            write_snapshot(self._snapshot_path(table), table.name, closed + 1, live[table.name])
        # The .bak snapshots still need the journals from their own start on.
        keep_from = min(starts.values())
        for number in journal_numbers(self.journal_dir):
            if number < keep_from:
                journal_path(self.journal_dir, number).unlink(missing_ok=True)
        return self._snapshot_bytes()

    def _compact_table(
        self, table: Table, changed: dict[str, dict[str, Record]], gone: set[str], now: float
    ) -> LineBuffer:
        """The table's live lines; the rest is appended to its archive."""
        pending = changed[table.name]
        is_live = self._live_rule(table)
        archive = ArchiveWriter(self.data_dir / "archive" / table.name)
        live = LineBuffer()

        def keep(raw: Record) -> None:
            line = orjson.dumps(raw)
            if is_live(raw, now):
                live.append(line)
            else:
                archive.add(table.month(raw), line)

        try:
            _, rows = read_snapshot(self._snapshot_path(table))
            for raw in rows:
                if table is records.PROMO_CODES and "activations" in raw:
                    split_format_1_promo(raw, changed[records.PROMO_ACTIVATIONS.name])
                key = table.key(raw)
                if key not in gone:
                    keep(pending.pop(key, raw))
            for raw in pending.values():
                keep(raw)
        finally:
            archive.close()
        return live

    def _live_rule(self, table: Table) -> Callable[[Record, float], bool]:
        rules: dict[str, Callable[[Any, float], bool]] = {
            records.PAYMENTS.name: self.retention.payment_is_live,
            records.SUBSCRIPTIONS.name: self.retention.subscription_is_live,
            records.UNMATCHED.name: self.retention.unmatched_is_live,
            records.STARS_SUBSCRIPTIONS.name: self.retention.stars_subscription_is_live,
            records.OUTBOX.name: self.retention.outbox_is_live,
        }
        rule = rules.get(table.name)
        if rule is None:
            return lambda raw, now: True  # promo codes and activations stay live
        return lambda raw, now: rule(table.load(raw), now)

    def _snapshot_bytes(self) -> int:
        paths = (self._snapshot_path(table) for table in records.TABLES)
        return sum(path.stat().st_size for path in paths if path.exists())

    def _snapshot_path(self, table: Table) -> Path:
        return snapshot_path(self.data_dir, table)

    # Start-up checks and the format upgrade ------------------------------------------------
    def _first_journal_number(self) -> int:
        """A fresh journal file each start: a line torn by a crash stays behind in the old."""
        existing = journal_numbers(self.journal_dir)
        starts = [read_snapshot(self._snapshot_path(table))[0] for table in records.TABLES]
        return max([*starts, (existing[-1] + 1) if existing else 1, 1])

    def _upgrade(self, closed: int) -> None:
        """Format 1 (one JSON list per file, everything live): back the files up, then
        compact once into format 2 snapshots and monthly archives."""
        json_upgrade.back_up_format_1(self.data_dir)
        self._compact(closed, time.time())
        json_upgrade.drop_format_1_snapshots(self.data_dir)

    def guard(self, read: Callable[[], T]) -> T:
        """Damaged money data stops start-up with one line naming the file and a backup."""
        try:
            return read()
        except DamagedFileError as error:
            raise StorageDamagedError(
                f"Storage error: {error.path} is damaged ({error.reason}). "
                f"Restore it from {self._backup_hint(error.path)}, then start again. "
                "Nothing was changed."
            ) from None

    def _backup_hint(self, path: Path) -> str:
        backup = backup_path(path)
        if backup.exists() and backup != path:
            return f"{backup} (the journal since it is kept and replayed)"
        upgrade = json_upgrade.latest_upgrade_backup(self.data_dir)
        if upgrade is not None:
            return str(upgrade / path.name)
        return "your last backup of DATA_DIR"


def _undo_if_failed(task: asyncio.Future[None], undo: Callable[[], None]) -> None:
    if task.cancelled() or task.exception() is not None:
        undo()


# Live records ----------------------------------------------------------------------------
Convert = Callable[[Table, Record], Any]


def _as_read(table: Table, raw: Record) -> Record:
    return raw


def _as_loaded(table: Table, raw: Record) -> Any:
    return table.load(raw)


def read_live_records(data_dir: Path, up_to: int | None = None) -> dict[str, dict[str, Record]]:
    """Each money table's live records by key: its snapshot, then the journal after it
    (up to journal `up_to`). Read-only; also what tests use to look at the files."""
    return _live_records(data_dir, up_to, _as_read)


def load_live_records(data_dir: Path) -> dict[str, dict[str, Any]]:
    """`read_live_records` as records (`Table.load`), each made as soon as its line is
    read. Holding whole tables as JSON dicts first took twice the memory of the records
    (L, 60k running subscriptions: 100 MB), and freeing them left that much behind in
    the allocator's arenas (see `ArchiveWriter`)."""
    return _live_records(data_dir, None, _as_loaded)


def _live_records(data_dir: Path, up_to: int | None, convert: Convert) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {table.name: {} for table in records.TABLES}
    starts: dict[str, int] = {}
    for table in records.TABLES:
        start, rows = read_snapshot(snapshot_path(data_dir, table))
        starts[table.name] = start
        current = state[table.name]
        for raw in rows:
            if table is records.PROMO_CODES and "activations" in raw:
                split_format_1_promo(raw, state[records.PROMO_ACTIVATIONS.name], convert)
            current[table.key(raw)] = convert(table, raw)
    changed, deleted = journal_changes(data_dir / "journal", starts, up_to, convert)
    for name, current in state.items():
        for key in deleted[name]:
            current.pop(key, None)
        current.update(changed[name])
    return state


def journal_changes(
    folder: Path, starts: dict[str, int], up_to: int | None, convert: Convert = _as_read
) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """Per table: records put (as `convert` makes them) and keys deleted by the journal
    after the table's snapshot."""
    changed: dict[str, dict[str, Any]] = {table.name: {} for table in records.TABLES}
    deleted: dict[str, set[str]] = {table.name: set() for table in records.TABLES}
    by_name = {table.name: table for table in records.TABLES}
    oldest = min(starts.values(), default=0)
    for number in journal_numbers(folder) if folder.exists() else []:
        if number < oldest:
            continue  # kept for the .bak snapshots; every snapshot already holds it
        if up_to is not None and number > up_to:
            break
        for transaction in read_journal(journal_path(folder, number)):
            for name, rows in transaction.get("put", {}).items():
                if name in by_name and number >= starts[name]:
                    table = by_name[name]
                    for raw in rows:
                        key = table.key(raw)
                        changed[name][key] = convert(table, raw)
                        deleted[name].discard(key)
            for name, keys in transaction.get("del", {}).items():
                if name in by_name and number >= starts[name]:
                    for key in keys:
                        changed[name].pop(key, None)
                        deleted[name].add(key)
    return changed, deleted
