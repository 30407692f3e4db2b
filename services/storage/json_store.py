"""Storage on JSON files under DATA_DIR; every write costs O(1) in the data's size.

- `users/<id>.json`, `history/<id>.json`: one small file per user, replaced atomically.
- Money (payments, subscriptions, promo codes and activations, unmatched money, Stars
  subscriptions, referral codes and referrals): a transaction journal (`journal/`)
  beside one snapshot per table (`payments.json`, `subscriptions.json`, ...,
  `referrals.json`). A change appends one journal line;
  compaction, in a thread, folds the journal into the snapshots and moves records that
  left the live set (see `Retention`) to `archive/<table>/<YYYY-MM>.jsonl`.
- Start-up reads the snapshots and the journal: the live records only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import itertools
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
from cachetools import LRUCache

from services.models import ChatTurn, Conversation, Conversations, Payment, UserRecord, title_from
from services.storage import records
from services.storage.atomic import (
    DamagedFileError,
    FileWriter,
    quarantine,
    read_json,
    remove_temp_files,
    write_file_atomic,
)
from services.storage.base import MoneyState, Retention, Storage, StorageDamagedError, Transaction
from services.storage.journal import (
    ArchiveWriter,
    Journal,
    LineBuffer,
    archive_months,
    backup_path,
    journal_numbers,
    journal_path,
    read_archive,
    read_archive_latest,
    read_journal,
    read_snapshot,
    write_snapshot,
)
from services.storage.records import Record, Table
from services.storage.rules import MoneyRules

logger = logging.getLogger(__name__)

T = TypeVar("T")
USER_CACHE_SIZE = 20_000  # users
# Pictures users send, kept beside the memory: MIME type <-> file suffix.
IMAGE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
IMAGE_SUFFIXES = {mime: suffix for suffix, mime in IMAGE_TYPES.items()}
IMAGE_ID = re.compile(r"^[0-9a-f]{16}\.(jpg|png|webp|gif)$")
HISTORY_CACHE_CHARS = 20_000_000  # characters of conversation kept in memory
MIN_COMPACTION_BYTES = 8 << 20  # compact when the journal outgrows this and the snapshots
STREAM_BATCH = 2_000

Listener = Callable[[str], Awaitable[object]]


class JsonStorage(Storage):
    def __init__(self, data_dir: Path, retention: Retention) -> None:
        self.data_dir = data_dir
        self.retention = retention
        self._users_dir = data_dir / "users"
        self._history_dir = data_dir / "history"
        self._conversations_dir = data_dir / "conversations"
        self._journal_dir = data_dir / "journal"
        self._archive_dir = data_dir / "archive"
        self._writer = FileWriter()
        self._writer.on_error = self._report_write_error
        # Told about write failures and quarantined files (admins get an alert).
        self.problem_listeners: list[Listener] = []
        self._users: LRUCache[int, UserRecord] = LRUCache(USER_CACHE_SIZE)
        self._history: LRUCache[tuple[int, str], tuple[ChatTurn, ...]] = LRUCache(
            HISTORY_CACHE_CHARS, getsizeof=lambda turns: 1 + sum(len(t.content) for t in turns)
        )
        self._conversations: LRUCache[int, Conversations] = LRUCache(USER_CACHE_SIZE)
        self._journal: Journal | None = None
        self._live_bytes = 0
        self._compaction: asyncio.Task[None] | None = None
        self._compaction_lock = asyncio.Lock()
        self._rules: MoneyRules | None = None  # built by load_money (or the first commit)
        self._rules_lock = asyncio.Lock()

    # Lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        for folder in (
            self.data_dir,
            self._users_dir,
            self._history_dir,
            self._conversations_dir,
            self._journal_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._remove_temp_files)
        start = await asyncio.to_thread(self._money_guard, self._first_journal_number)
        self._journal = Journal(self._journal_dir, start)
        self._journal.on_error = self._tell
        if await asyncio.to_thread(self._money_guard, self._needs_upgrade):
            await asyncio.to_thread(self._money_guard, lambda: self._upgrade(start - 1))
        self._live_bytes = await asyncio.to_thread(self._snapshot_bytes)

    async def close(self) -> None:
        if self._compaction is not None:
            await asyncio.gather(self._compaction, return_exceptions=True)
        await self._writer.drain()
        if self._journal is not None:
            await self._journal.close()

    def _remove_temp_files(self) -> None:
        for folder in (self.data_dir, self._users_dir, self._history_dir):
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    Path(entry.path).unlink(missing_ok=True)
                    logger.info("Removed unfinished write %s", entry.name)
        for folder in (self.data_dir / "stats", self.data_dir / "broadcasts"):
            if folder.exists():
                remove_temp_files(folder)

    # Problems ------------------------------------------------------------------------------
    async def _tell(self, text: str) -> None:
        for listener in self.problem_listeners:
            with contextlib.suppress(Exception):
                await listener(text)

    async def _report_write_error(self, path: Path, error: OSError) -> None:
        await self._tell(f"Storage write failed: {path.name}: {error.strerror or error}")

    def _read_or_quarantine(self, path: Path, default: Any) -> tuple[Any, Path | None]:
        """Read a user's file; a damaged one is moved aside and reads as `default`."""
        try:
            return read_json(path, default), None
        except DamagedFileError as error:
            logger.error("Damaged file %s: %s", path, error.reason)
            return default, quarantine(self.data_dir, path)

    async def _read_user_file(self, path: Path, default: Any) -> Any:
        raw, moved = await asyncio.to_thread(self._read_or_quarantine, path, default)
        if moved is not None:
            await self._tell(
                f"Damaged file {path.name} moved to {moved.relative_to(self.data_dir)}"
            )
        return raw

    # Users -----------------------------------------------------------------
    async def get_user(self, user_id: int) -> UserRecord | None:
        user = self._users.get(user_id)
        if user is None:
            raw = await self._read_user_file(self._user_path(user_id), None)
            if not isinstance(raw, dict):
                return None
            user = self._users.setdefault(user_id, records.user_from_json(raw))
        return dataclasses.replace(user)

    async def save_user(self, user: UserRecord) -> None:
        stored = dataclasses.replace(user)  # never changed (copies go out): read in a thread
        self._users[user.id] = stored
        try:
            await self._writer.save(self._user_path(user.id), lambda: stored)
        except OSError:
            self._users.pop(user.id, None)  # memory must not claim what the disk lacks
            raise

    async def count_users(self) -> int:
        names = await asyncio.to_thread(os.listdir, self._users_dir)
        return sum(1 for name in names if name.endswith(".json") and not name.startswith("."))

    async def iter_users(self) -> AsyncIterator[UserRecord]:
        moved: list[Path] = []

        def users() -> Iterator[UserRecord]:
            for entry in os.scandir(self._users_dir):
                if not entry.name.endswith(".json") or entry.name.startswith("."):
                    continue
                raw, quarantined = self._read_or_quarantine(Path(entry.path), None)
                if quarantined is not None:
                    moved.append(quarantined)
                elif isinstance(raw, dict):
                    yield records.user_from_json(raw)

        async for user in _stream(users):
            cached = self._users.get(user.id)
            yield dataclasses.replace(cached) if cached is not None else user
        for path in moved:
            await self._tell(f"Damaged file moved to {path.relative_to(self.data_dir)}")

    def _user_path(self, user_id: int) -> Path:
        return self._users_dir / f"{user_id}.json"

    # Conversations ------------------------------------------------------------
    async def load_conversations(self, owner: int) -> Conversations | None:
        cached = self._conversations.get(owner)
        if cached is not None:
            return cached
        raw = await self._read_user_file(self._conversations_path(owner), None)
        if isinstance(raw, dict):
            conversations = records.conversations_from_json(raw)
        else:
            adopted = await self._adopt_format_1_history(owner)
            if adopted is None:
                return None
            conversations = adopted
        self._conversations[owner] = conversations
        return conversations

    async def save_conversations(self, owner: int, conversations: Conversations) -> None:
        """Frozen records, so the writer's thread may serialize them."""
        self._conversations[owner] = conversations
        try:
            await self._writer.save(self._conversations_path(owner), lambda: conversations)
        except OSError:
            self._conversations.pop(owner, None)
            raise

    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        key = (owner, conversation_id)
        turns = self._history.get(key)
        if turns is None:
            raw = await self._read_user_file(self._history_path(owner, conversation_id), [])
            items = raw if isinstance(raw, list) else []
            turns = tuple(
                ChatTurn(item["role"], item["content"], tuple(item.get("images", ())))
                for item in items
            )
            self._history[key] = turns
        return list(turns)

    async def save_history(self, owner: int, conversation_id: str, turns: list[ChatTurn]) -> None:
        key, stored = (owner, conversation_id), tuple(turns)
        self._history[key] = stored
        path = self._history_path(owner, conversation_id)
        try:  # no await before the writer: saves reach it in the order they were made
            await self._writer.save(path, lambda: [_turn_record(t) for t in stored], durable=False)
        except OSError:
            self._history.pop(key, None)
            raise

    async def delete_history(self, owner: int, conversation_id: str) -> None:
        self._history.pop((owner, conversation_id), None)
        await self._writer.drain()  # a write still queued would bring the file back
        await asyncio.to_thread(self._history_path(owner, conversation_id).unlink, missing_ok=True)
        media = self._media_dir(owner, conversation_id)
        await asyncio.to_thread(shutil.rmtree, media, ignore_errors=True)

    async def save_image(
        self, owner: int, conversation_id: str, data: bytes, mime_type: str
    ) -> str:
        image_id = f"{secrets.token_hex(8)}.{IMAGE_SUFFIXES.get(mime_type, 'jpg')}"
        path = self._media_dir(owner, conversation_id) / image_id
        await asyncio.to_thread(write_file_atomic, path, data, durable=False)
        return image_id

    async def load_image(
        self, owner: int, conversation_id: str, image_id: str
    ) -> tuple[bytes, str] | None:
        match = IMAGE_ID.match(image_id)
        if match is None:  # ids are ours; anything else never becomes a path
            return None
        path = self._media_dir(owner, conversation_id) / image_id
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        return data, IMAGE_TYPES[match.group(1)]

    async def forget(self, owner: int) -> None:
        self._conversations.pop(owner, None)
        for key in [key for key in self._history if key[0] == owner]:
            self._history.pop(key, None)
        await self._writer.drain()
        await asyncio.to_thread(self._remove_owner_files, owner)

    def _remove_owner_files(self, owner: int) -> None:
        shutil.rmtree(self._history_dir / str(owner), ignore_errors=True)
        (self._history_dir / f"{owner}.json").unlink(missing_ok=True)  # format 1
        self._conversations_path(owner).unlink(missing_ok=True)

    async def _adopt_format_1_history(self, owner: int) -> Conversations | None:
        """Format 1 kept one memory per user in history/<id>.json: it becomes the user's
        first conversation."""
        legacy = self._history_dir / f"{owner}.json"
        if not await asyncio.to_thread(legacy.is_file):
            return None
        moment = (await asyncio.to_thread(legacy.stat)).st_mtime
        raw = await self._read_user_file(legacy, [])  # a damaged one is moved aside: []
        turns = [ChatTurn(item["role"], item["content"]) for item in raw if isinstance(item, dict)]
        first = next((turn.content for turn in turns if turn.role == "user"), "")
        conversation = Conversation("1", title_from(first), moment, moment)
        conversations = Conversations(current="1", items=(conversation,))
        await self.save_history(owner, "1", turns)
        await self.save_conversations(owner, conversations)
        await asyncio.to_thread(legacy.unlink, missing_ok=True)
        return conversations

    def _conversations_path(self, owner: int) -> Path:
        return self._conversations_dir / f"{owner}.json"

    def _history_path(self, owner: int, conversation_id: str) -> Path:
        return self._history_dir / str(owner) / f"{conversation_id}.json"

    def _media_dir(self, owner: int, conversation_id: str) -> Path:
        """A conversation's pictures, beside its memory (gone with it, and with /forget)."""
        return self._history_dir / str(owner) / f"{conversation_id}.media"

    # Money: reading ------------------------------------------------------------------------
    async def load_money(self) -> MoneyState:
        return await asyncio.to_thread(self._money_guard, self._load_money)

    def _load_money(self) -> MoneyState:
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
        """The rules' index: from load_money, or read once for a commit that came first."""
        if self._rules is None:
            async with self._rules_lock:
                if self._rules is None:
                    await self.load_money()
        assert self._rules is not None
        return self._rules

    def _snapshot_path(self, table: Table) -> Path:
        return self.data_dir / f"{table.name}.json"

    def _read_live_tables(self, up_to: int | None = None) -> dict[str, dict[str, Record]]:
        return read_live_records(self.data_dir, up_to)

    async def find_payment(self, payment_id: str) -> Payment | None:
        raw = await asyncio.to_thread(self._find_payment, payment_id)
        return records.payment_from_json(raw) if raw is not None else None

    def _find_payment(self, payment_id: str) -> Record | None:
        """Newest first: the journal after the snapshot, the snapshot, then the archive."""
        needle = b'"id":' + orjson.dumps(payment_id)
        table = records.PAYMENTS
        start, _ = read_snapshot(self._snapshot_path(table))
        for number in reversed(journal_numbers(self._journal_dir)):
            if number < start:
                break
            found: Record | None = None
            for transaction in _lines_with(journal_path(self._journal_dir, number), needle):
                for raw in transaction.get("put", {}).get(table.name, []):
                    if raw.get("id") == payment_id:
                        found = raw
            if found is not None:
                return found
        _, rows = read_snapshot(self._snapshot_path(table))
        for row in rows:
            if row.get("id") == payment_id:
                return row
        for month in reversed(archive_months(self._archive_dir / table.name)):
            found = None
            for raw in read_archive(month, needle):
                if raw.get("id") == payment_id:
                    found = raw
            if found is not None:
                return found
        return None

    async def iter_payments(self, created_since: float = 0.0) -> AsyncIterator[Payment]:
        history = functools.partial(self._payment_history, created_since)
        async for raw in _stream(history):
            yield records.payment_from_json(raw)

    def _payment_history(self, created_since: float) -> Iterator[Record]:
        """Archived months first (each record once, its last line), then the live ones;
        archives are by creation month, so months before `created_since` are not read."""
        table = records.PAYMENTS
        live = self._read_live_tables()[table.name]
        first_month = f"{records.month_of(created_since)}.jsonl"
        for month in archive_months(self._archive_dir / table.name):
            if month.name < first_month:
                continue
            for raw in read_archive_latest(month, table.key):
                if table.key(raw) not in live and raw["created_at"] >= created_since:
                    yield raw
        yield from (raw for raw in live.values() if raw["created_at"] >= created_since)

    # Money: writing ------------------------------------------------------------------------
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
                await self._tell(f"Storage compaction failed: {error}")
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
        changed, deleted = _journal_changes(self._journal_dir, starts, closed)
        live = {
            table.name: self._compact_table(table, changed, deleted[table.name], now)
            for table in records.TABLES
        }
        for table in sorted(records.TABLES, key=lambda t: t is records.PROMO_CODES):
            write_snapshot(self._snapshot_path(table), table.name, closed + 1, live[table.name])
        # The .bak snapshots still need the journals from their own start on.
        keep_from = min(starts.values())
        for number in journal_numbers(self._journal_dir):
            if number < keep_from:
                journal_path(self._journal_dir, number).unlink(missing_ok=True)
        return self._snapshot_bytes()

    def _compact_table(
        self, table: Table, changed: dict[str, dict[str, Record]], gone: set[str], now: float
    ) -> LineBuffer:
        """The table's live lines; the rest is appended to its archive."""
        pending = changed[table.name]
        is_live = self._live_rule(table)
        archive = ArchiveWriter(self._archive_dir / table.name)
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
                    _split_format_1_promo(raw, changed[records.PROMO_ACTIVATIONS.name])
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

    # Start-up checks and the format upgrade ------------------------------------------------
    def _first_journal_number(self) -> int:
        """A fresh journal file each start: a line torn by a crash stays behind in the old."""
        existing = journal_numbers(self._journal_dir)
        starts = [read_snapshot(self._snapshot_path(table))[0] for table in records.TABLES]
        return max([*starts, (existing[-1] + 1) if existing else 1, 1])

    def _needs_upgrade(self) -> bool:
        return any(_is_format_1(self._snapshot_path(table)) for table in records.TABLES)

    def _upgrade(self, closed: int) -> None:
        """Format 1 (one JSON list per file, everything live): back the files up, then
        compact once into format 2 snapshots and monthly archives.

        Only files still in format 1 are copied, and a copy is never overwritten, so a
        restart after a kill mid-upgrade keeps the true originals."""
        saved = {
            p.name for folder in self.data_dir.glob("backup-format1-*") for p in folder.iterdir()
        }
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = self.data_dir / f"backup-format1-{stamp}"
        for table in records.TABLES:
            path = self._snapshot_path(table)
            if _is_format_1(path) and path.name not in saved:
                backup.mkdir(exist_ok=True)
                shutil.copy2(path, backup / path.name)
        logger.warning(
            "Upgrading money files to format 2 (once); originals kept in %s", backup.name
        )
        self._compact(closed, time.time())
        for table in records.TABLES:  # the format-1 files live on in the backup folder
            backup_path(self._snapshot_path(table)).unlink(missing_ok=True)

    def _money_guard(self, read: Callable[[], T]) -> T:
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
        upgrades = sorted(self.data_dir.glob("backup-format1-*"))
        if upgrades:
            return str(upgrades[-1] / path.name)
        return "your last backup of DATA_DIR"


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
        start, rows = read_snapshot(data_dir / f"{table.name}.json")
        starts[table.name] = start
        current = state[table.name]
        for raw in rows:
            if table is records.PROMO_CODES and "activations" in raw:
                _split_format_1_promo(raw, state[records.PROMO_ACTIVATIONS.name], convert)
            current[table.key(raw)] = convert(table, raw)
    changed, deleted = _journal_changes(data_dir / "journal", starts, up_to, convert)
    for name, current in state.items():
        for key in deleted[name]:
            current.pop(key, None)
        current.update(changed[name])
    return state


def _journal_changes(
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


def _split_format_1_promo(
    raw: Record, activations: dict[str, Any], convert: Convert = _as_read
) -> None:
    """Format 1 kept activations inside each code; now they are records of their own."""
    table = records.PROMO_ACTIVATIONS
    for item in raw.pop("activations"):
        row = {"code": raw["code"], "user_id": item["user_id"], "at": item["at"]}
        key = table.key(row)
        if key not in activations:
            activations[key] = convert(table, row)


def _is_format_1(path: Path) -> bool:
    """The previous version's files: one JSON list."""
    if not path.exists():
        return False
    with path.open("rb") as file:
        return file.read(64).lstrip().startswith(b"[")


def _lines_with(path: Path, needle: bytes) -> Iterator[Record]:
    """Journal transactions that mention `needle` (complete lines only)."""
    with contextlib.suppress(FileNotFoundError), path.open("rb") as file:
        for line in file:
            if needle in line and line.endswith(b"\n"):
                with contextlib.suppress(orjson.JSONDecodeError):
                    yield orjson.loads(line)


def _undo_if_failed(task: asyncio.Future[None], undo: Callable[[], None]) -> None:
    if task.cancelled() or task.exception() is not None:
        undo()


async def _stream(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Run a blocking generator in a worker thread, a batch at a time."""
    iterator = make()
    while True:
        batch = await asyncio.to_thread(lambda: list(itertools.islice(iterator, STREAM_BATCH)))
        if not batch:
            return
        for item in batch:
            yield item


def _turn_record(turn: ChatTurn) -> dict[str, object]:
    """A turn as its file keeps it (`images` only when it has any)."""
    record: dict[str, object] = {"role": turn.role, "content": turn.content}
    if turn.images:
        record["images"] = turn.images
    return record
