"""Crash-safe JSON files: write to a temp file, fsync, rename; serialized per path."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def read_json(path: Path, default: Any = None) -> Any:
    """Load a JSON file, or return `default` when it does not exist."""
    try:
        with path.open("rb") as file:
            return json.loads(file.read())
    except FileNotFoundError:
        return default


def write_json_atomic(path: Path, payload: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `payload` so that a reader sees the old or the new file, whole.

    `durable` adds fsync of the file and its folder, so the change also survives a
    power loss; without it the rename alone is already safe against a killed process.
    """
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, payload)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    temp.replace(path)
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def dump_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class FileWriter:
    """Serializes writes per path and coalesces the ones that queue up.

    `save(path, snapshot)` returns once a write that includes the caller's state
    is on disk. Writes use the newest snapshot given for the path, so callers
    that queued behind a running write are served together by the next one.
    """

    def __init__(self) -> None:
        self._locks: dict[Path, asyncio.Lock] = {}
        self._callers: dict[Path, int] = {}
        self._requested: dict[Path, int] = {}
        self._written: dict[Path, int] = {}
        self._latest: dict[Path, Callable[[], Any]] = {}
        # Told about every failed write (the caller still gets the exception).
        self.on_error: Callable[[Path, OSError], Awaitable[object]] | None = None

    async def save(self, path: Path, snapshot: Callable[[], Any], *, durable: bool = True) -> None:
        ticket = self._requested[path] = self._requested.get(path, 0) + 1
        self._latest[path] = snapshot
        self._callers[path] = self._callers.get(path, 0) + 1
        lock = self._locks.setdefault(path, asyncio.Lock())
        try:
            async with lock:
                if self._written.get(path, 0) >= ticket:
                    return
                covered = self._requested[path]
                payload = dump_json(self._latest[path]())
                try:
                    await asyncio.to_thread(write_json_atomic, path, payload, durable=durable)
                except OSError as error:
                    if self.on_error is not None:
                        await self.on_error(path, error)
                    raise
                self._written[path] = covered
        finally:
            self._callers[path] -= 1
            if not self._callers[path]:  # nobody else waits: forget the path
                for table in (
                    self._locks,
                    self._callers,
                    self._requested,
                    self._written,
                    self._latest,
                ):
                    table.pop(path, None)

    async def drain(self) -> None:
        """Wait for every write in progress to finish."""
        for lock in list(self._locks.values()):
            async with lock:
                pass
