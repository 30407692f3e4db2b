"""Documents that are not money, as files: statistics (`stats/<name>.json`, a day or a
month), state markers (`<name>.json`) and broadcasts (`broadcasts/<id>.json`, the header,
and `broadcasts/<id>.log`, the append-only delivery log: `T <user>` before a send, then
`D`, `B` or `F` with its outcome).

Statistics and headers go through a file writer of their own (whole files, atomic,
fsynced, coalesced); a damaged statistics file is moved to `quarantine/`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

from services.models import Broadcast, DeliveryOutcome
from services.storage.atomic import (
    DamagedFileError,
    FileWriter,
    dump_json,
    quarantine,
    read_json,
    write_file_atomic,
)
from services.storage.base import DamagedRecordError, DeliveryLog, Document

MARKS = {"D": "delivered", "B": "blocked", "F": "failed"}


class DocumentFiles:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.stats_folder = data_dir / "stats"
        self.broadcasts_folder = data_dir / "broadcasts"
        self._writer = FileWriter()

    async def close(self) -> None:
        await self._writer.drain()

    # Statistics ----------------------------------------------------------------------------
    async def load_stats(self, name: str) -> Document | None:
        return await asyncio.to_thread(self.load_stats_now, name)

    def load_stats_now(self, name: str) -> Document | None:
        path = self.stats_folder / f"{name}.json"
        try:
            raw = read_json(path)
        except DamagedFileError as error:
            moved = quarantine(self.data_dir, path).relative_to(self.data_dir)
            raise DamagedRecordError(path.name, error.reason, str(moved)) from None
        return raw if isinstance(raw, dict) else None

    async def save_stats(self, name: str, document: Document) -> None:
        await self._writer.save(self.stats_folder / f"{name}.json", lambda: document)

    # State markers -------------------------------------------------------------------------
    async def load_state(self, name: str) -> Document | None:
        path = self.data_dir / f"{name}.json"
        try:
            raw = await asyncio.to_thread(read_json, path)
        except DamagedFileError as error:
            raise DamagedRecordError(path.name, error.reason) from None
        return raw if isinstance(raw, dict) else None

    async def save_state(self, name: str, document: Document) -> None:
        payload = dump_json(document)
        await asyncio.to_thread(write_file_atomic, self.data_dir / f"{name}.json", payload)

    # Broadcasts ----------------------------------------------------------------------------
    async def save_broadcast(self, broadcast: Broadcast) -> None:
        snapshot = dataclasses.asdict(broadcast)
        await self._writer.save(self._header(broadcast.id), lambda: snapshot)

    async def load_broadcast(self, broadcast_id: str) -> Broadcast | None:
        raw = await asyncio.to_thread(read_json, self._header(broadcast_id))
        return Broadcast(**raw) if raw else None

    async def load_broadcasts(self) -> list[Broadcast]:
        try:
            names = await asyncio.to_thread(os.listdir, self.broadcasts_folder)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                broadcast = await self.load_broadcast(name[:-5])
                if broadcast is not None:
                    found.append(broadcast)
        return found

    async def read_deliveries(self, broadcast_id: str) -> tuple[set[int], dict[int, str]]:
        return await asyncio.to_thread(_read_log, self._log(broadcast_id))

    async def open_deliveries(self, broadcast_id: str) -> DeliveryLog:
        return JsonDeliveryLog(await asyncio.to_thread(_open_log, self._log(broadcast_id)))

    def _header(self, broadcast_id: str) -> Path:
        return self.broadcasts_folder / f"{broadcast_id}.json"

    def _log(self, broadcast_id: str) -> Path:
        return self.broadcasts_folder / f"{broadcast_id}.log"


class JsonDeliveryLog(DeliveryLog):
    """Each line written at once (no fsync: a killed process loses none; a power cut
    may lose the last few, which at worst sends those users the broadcast again)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._tried: set[int] = set()  # this run's (earlier runs' are not offered again)

    async def tried(self, user_id: int) -> bool:
        if user_id in self._tried:
            return False
        self._tried.add(user_id)
        os.write(self._fd, f"T {user_id}\n".encode())
        return True

    async def done(self, user_id: int, outcome: DeliveryOutcome) -> None:
        os.write(self._fd, f"{outcome[0].upper()} {user_id}\n".encode())

    async def close(self) -> None:
        os.close(self._fd)


def _read_log(path: Path) -> tuple[set[int], dict[int, str]]:
    tried: set[int] = set()
    results: dict[int, str] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return tried, results
    for line in lines:
        mark, _, user = line.partition(" ")
        if not user.isdigit():
            continue  # a line cut by a crash
        if mark == "T":
            tried.add(int(user))
        elif mark in MARKS:
            results[int(user)] = MARKS[mark]
    return tried, results


def _open_log(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
