"""Money history, read on demand: a payment wherever it is (the journal, its snapshot, the
monthly archive), and every payment since a moment, each once in its latest state.
Blocking reads, run in a worker thread by the store (a batch at a time)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import orjson

from services.storage import records
from services.storage.journal import (
    archive_months,
    journal_numbers,
    journal_path,
    read_archive,
    read_archive_latest,
    read_snapshot,
)
from services.storage.json_money import read_live_records
from services.storage.json_upgrade import snapshot_path
from services.storage.records import Record


def find_payment(data_dir: Path, payment_id: str) -> Record | None:
    """Newest first: the journal after the snapshot, the snapshot, then the archive."""
    needle = b'"id":' + orjson.dumps(payment_id)
    table = records.PAYMENTS
    journal_dir = data_dir / "journal"
    start, _ = read_snapshot(snapshot_path(data_dir, table))
    for number in reversed(journal_numbers(journal_dir)):
        if number < start:
            break
        found: Record | None = None
        for transaction in _lines_with(journal_path(journal_dir, number), needle):
            for raw in transaction.get("put", {}).get(table.name, []):
                if raw.get("id") == payment_id:
                    found = raw
        if found is not None:
            return found
    _, rows = read_snapshot(snapshot_path(data_dir, table))
    for row in rows:
        if row.get("id") == payment_id:
            return row
    for month in reversed(archive_months(data_dir / "archive" / table.name)):
        found = None
        for raw in read_archive(month, needle):
            if raw.get("id") == payment_id:
                found = raw
        if found is not None:
            return found
    return None


def payment_history(data_dir: Path, created_since: float) -> Iterator[Record]:
    """Archived months first (each record once, its last line), then the live ones;
    archives are by creation month, so months before `created_since` are not read."""
    table = records.PAYMENTS
    live = read_live_records(data_dir)[table.name]
    first_month = f"{records.month_of(created_since)}.jsonl"
    for month in archive_months(data_dir / "archive" / table.name):
        if month.name < first_month:
            continue
        for raw in read_archive_latest(month, table.key):
            if table.key(raw) not in live and raw["created_at"] >= created_since:
                yield raw
    yield from (raw for raw in live.values() if raw["created_at"] >= created_since)


def _lines_with(path: Path, needle: bytes) -> Iterator[Record]:
    """Journal transactions that mention `needle` (complete lines only)."""
    with contextlib.suppress(FileNotFoundError), path.open("rb") as file:
        for line in file:
            if needle in line and line.endswith(b"\n"):
                with contextlib.suppress(orjson.JSONDecodeError):
                    yield orjson.loads(line)
