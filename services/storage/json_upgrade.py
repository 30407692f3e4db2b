"""The one-time upgrade from format 1 (the previous version: one JSON list per money file,
activations inside promo codes, one memory per user in `history/<id>.json`).

Money files are backed up to `backup-format1-<date>/` and then compacted once into
format 2 snapshots and archives (`MoneyFiles.open`); a user's old memory becomes their
first conversation when they are next seen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.models import ChatTurn, Conversation, Conversations, title_from
from services.storage import records
from services.storage.journal import backup_path
from services.storage.records import Record, Table

if TYPE_CHECKING:
    from collections.abc import Callable

    from services.storage.json_conversations import ConversationFiles
    from services.storage.json_files import DataFiles

    Convert = Callable[[Table, Record], Any]

logger = logging.getLogger(__name__)


def is_format_1(path: Path) -> bool:
    """The previous version's files: one JSON list."""
    if not path.exists():
        return False
    with path.open("rb") as file:
        return file.read(64).lstrip().startswith(b"[")


def snapshot_path(data_dir: Path, table: Table) -> Path:
    return data_dir / f"{table.name}.json"


def needs_upgrade(data_dir: Path) -> bool:
    return any(is_format_1(snapshot_path(data_dir, table)) for table in records.TABLES)


def back_up_format_1(data_dir: Path) -> None:
    """Copy the money files still in format 1 aside, before they are converted.

    A copy is never overwritten, so a restart after a kill mid-upgrade keeps the true
    originals."""
    saved = {p.name for folder in data_dir.glob("backup-format1-*") for p in folder.iterdir()}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = data_dir / f"backup-format1-{stamp}"
    for table in records.TABLES:
        path = snapshot_path(data_dir, table)
        if is_format_1(path) and path.name not in saved:
            backup.mkdir(exist_ok=True)
            shutil.copy2(path, backup / path.name)
    logger.warning("Upgrading money files to format 2 (once); originals kept in %s", backup.name)


def drop_format_1_snapshots(data_dir: Path) -> None:
    """After the conversion: the format-1 files live on in the backup folder only."""
    for table in records.TABLES:
        backup_path(snapshot_path(data_dir, table)).unlink(missing_ok=True)


def latest_upgrade_backup(data_dir: Path) -> Path | None:
    upgrades = sorted(data_dir.glob("backup-format1-*"))
    return upgrades[-1] if upgrades else None


def _as_read(table: Table, raw: Record) -> Record:
    return raw


def split_format_1_promo(
    raw: Record, activations: dict[str, Any], convert: Convert = _as_read
) -> None:
    """Format 1 kept activations inside each code; now they are records of their own."""
    table = records.PROMO_ACTIVATIONS
    for item in raw.pop("activations"):
        row = {"code": raw["code"], "user_id": item["user_id"], "at": item["at"]}
        key = table.key(row)
        if key not in activations:
            activations[key] = convert(table, row)


async def adopt_format_1_history(
    conversations: ConversationFiles, files: DataFiles, owner: int
) -> Conversations | None:
    """Format 1 kept one memory per user in history/<id>.json: it becomes the user's
    first conversation."""
    legacy = conversations.history_folder / f"{owner}.json"
    if not await asyncio.to_thread(legacy.is_file):
        return None
    moment = (await asyncio.to_thread(legacy.stat)).st_mtime
    raw = await files.read_user_file(legacy, [])  # a damaged one is moved aside: []
    turns = [ChatTurn(item["role"], item["content"]) for item in raw if isinstance(item, dict)]
    first = next((turn.content for turn in turns if turn.role == "user"), "")
    conversation = Conversation("1", title_from(first), moment, moment)
    adopted = Conversations(current="1", items=(conversation,))
    await conversations.save_history(owner, "1", turns)
    await conversations.save(owner, adopted)
    await asyncio.to_thread(legacy.unlink, missing_ok=True)
    return adopted
