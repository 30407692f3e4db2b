"""Crash-safe files: whole writes or an error, atomic replace, quarantine of damaged files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

QUARANTINE_DIR = "quarantine"


class DamagedFileError(Exception):
    """A file exists but cannot be read as what it should hold."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def read_json(path: Path, default: Any = None) -> Any:
    """Load a JSON file, `default` when it does not exist; DamagedFileError when unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return default
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        reason = "empty file" if not data.strip() else f"invalid JSON ({error})"
        raise DamagedFileError(path, reason) from None


def dump_json(data: Any) -> bytes:
    """Compact UTF-8 JSON; dataclasses are serialized directly (no `asdict` copies)."""
    return orjson.dumps(data)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte or raise: `os.write` may write less (a full disk) without an error."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(28, "No space left on device (short write)")
        view = view[written:]


def fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_file_atomic(path: Path, payload: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `payload` so that a reader sees the old or the new file, whole.

    Each write has its own temp file, so two writes can never share one. `durable`
    adds fsync of the file and its folder (survives a power loss); without it the
    rename alone is already safe against a killed process.
    """
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except FileNotFoundError:  # the first file of a new folder (a user's conversations)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        try:
            write_all(fd, payload)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_json_atomic(path: Path, snapshot: Callable[[], Any], *, durable: bool = True) -> None:
    """`write_file_atomic` of what `snapshot` returns, serialized here (a worker thread)."""
    write_file_atomic(path, dump_json(snapshot()), durable=durable)


def remove_temp_files(root: Path) -> None:
    """Drop temp files a killed process left behind; the real files are intact."""
    for temp in root.rglob(".*.tmp"):
        temp.unlink(missing_ok=True)
        logger.info("Removed unfinished write %s", temp.name)


def quarantine(data_dir: Path, path: Path) -> Path:
    """Move a damaged file aside (under DATA_DIR/quarantine) so the bot can go on."""
    relative = path.relative_to(data_dir) if path.is_relative_to(data_dir) else Path(path.name)
    target = data_dir / QUARANTINE_DIR / f"{relative}.{int(time.time())}"
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    logger.error("Moved damaged file %s to %s", path, target)
    return target


@dataclass(slots=True)
class _PathQueue:
    snapshot: Callable[[], Any]
    durable: bool
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class FileWriter:
    """Writes whole JSON files, one writer per path, coalescing writes that queue up.

    `save(path, snapshot)` returns once a write that includes the caller's state is
    on disk. The write runs in a task of its own: a caller that is cancelled stops
    waiting, but the write it started finishes before the next one for that path.
    `snapshot` is called and its result serialized in a worker thread, not on the event
    loop: it must read only what nobody changes meanwhile (frozen records, or a copy
    made when `save` was called).
    """

    def __init__(self) -> None:
        self._queues: dict[Path, _PathQueue] = {}
        # Told about every failed write (the callers still get the exception).
        self.on_error: Callable[[Path, OSError], Awaitable[object]] | None = None

    async def save(self, path: Path, snapshot: Callable[[], Any], *, durable: bool = True) -> None:
        queue = self._queues.get(path)
        if queue is None:
            queue = self._queues[path] = _PathQueue(snapshot, durable)
        queue.snapshot, queue.durable = snapshot, queue.durable or durable
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.waiters.append(waiter)
        if queue.task is None:
            queue.task = asyncio.create_task(self._flush(path, queue), name=f"write {path.name}")
        await waiter

    async def _flush(self, path: Path, queue: _PathQueue) -> None:
        try:
            while queue.waiters:
                waiters, queue.waiters = queue.waiters, []
                durable, queue.durable = queue.durable, False
                error: Exception | None = None
                try:
                    snapshot = queue.snapshot  # the newest; a later save sets the next one
                    await asyncio.to_thread(write_json_atomic, path, snapshot, durable=durable)
                except Exception as failure:
                    error = failure
                    logger.error("Could not write %s: %s", path, failure)
                    if self.on_error is not None and isinstance(failure, OSError):
                        with contextlib.suppress(Exception):
                            await self.on_error(path, failure)
                for waiter in waiters:
                    if waiter.done():
                        continue  # its caller was cancelled; the write happened anyway
                    if error is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(error)
        finally:
            del self._queues[path]

    async def drain(self) -> None:
        """Wait for every write in progress to finish."""
        while self._queues:
            tasks = [queue.task for queue in self._queues.values() if queue.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
