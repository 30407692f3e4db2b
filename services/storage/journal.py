"""The building blocks of the money store: a transaction journal, snapshots and archives.

- The journal (`journal/<n>.jsonl`) gets one line per transaction, appended and fsynced
  before the transaction is confirmed; appends that queue up share one fsync. A line
  is whole or absent, so a transaction of several records lands all or nothing.
- A snapshot (`<table>.json`) holds a table's live records as of journal `n`. It is
  valid JSON, written one record per line, so it is read and written a line at a time
  (never one long call that holds the GIL and stalls the event loop).
- An archive (`archive/<table>/<YYYY-MM>.jsonl`) keeps records that left the live set,
  appended by month; the last line for a key wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from services.storage.atomic import DamagedFileError, fsync_dir, write_all

logger = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 2
FORMAT_1_CHUNK = 4 << 20  # characters read at a time from a format-1 file
Record = dict[str, Any]


# Journal ---------------------------------------------------------------------------------
def journal_path(folder: Path, number: int) -> Path:
    return folder / f"{number:08d}.jsonl"


def journal_numbers(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.jsonl") if p.stem.isdigit())


def read_journal(path: Path) -> Iterator[Record]:
    """Transactions in order. A last line without its newline is a write torn by a
    crash (never confirmed) and is skipped; any other unreadable line is damage."""
    with path.open("rb") as file:
        number = 0
        for number, line in enumerate(file, 1):
            if not line.endswith(b"\n"):
                logger.warning("Skipping a torn last line of %s", path.name)
                return
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                raise DamagedFileError(path, f"line {number} is not valid JSON") from None


class Journal:
    """Appends transaction lines with group commit; callers wait for their fsync.

    Writes run in a task of their own, so a cancelled caller never leaves a write
    half done, and a failed write is cut off again so the file stays line-clean.
    """

    def __init__(self, folder: Path, number: int) -> None:
        self.folder = folder
        self.number = number
        self._fd: int | None = None
        self._size = 0
        self._batch: list[tuple[bytes, asyncio.Future[None]]] = []
        self._rotations: list[asyncio.Future[int]] = []
        self._task: asyncio.Task[None] | None = None
        self.bytes_written = 0  # since the last rotation
        self.on_error: Callable[[str], Awaitable[object]] | None = None

    @property
    def path(self) -> Path:
        return journal_path(self.folder, self.number)

    async def append(self, line: bytes) -> None:
        """Append one transaction; returns once it is on disk."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((line, waiter))
        self._kick()
        await waiter

    async def rotate(self) -> int:
        """Close the current file and continue in the next; returns the closed number."""
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._rotations.append(waiter)
        self._kick()
        return await waiter

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _kick(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="journal")

    async def _run(self) -> None:
        try:
            while self._batch or self._rotations:
                if self._batch:
                    await self._write_batch()
                if self._rotations:
                    waiters, self._rotations = self._rotations, []
                    closed = self.number
                    await asyncio.to_thread(self._switch, self.number + 1)
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(closed)
        finally:
            self._task = None

    async def _write_batch(self) -> None:
        batch, self._batch = self._batch, []
        data = b"".join(line + b"\n" for line, _ in batch)
        error: Exception | None = None
        try:
            await asyncio.to_thread(self._write, data)
        except Exception as failure:
            error = failure
            logger.error("Could not append to %s: %s", self.path, failure)
            if self.on_error is not None:
                with contextlib.suppress(Exception):
                    await self.on_error(f"Journal write failed: {self.path.name}: {failure}")
        for _, waiter in batch:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _open(self) -> int:
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._size = os.fstat(self._fd).st_size
            fsync_dir(self.folder)
        return self._fd

    def _write(self, data: bytes) -> None:
        fd = self._open()
        try:
            write_all(fd, data)
            os.fsync(fd)
        except OSError:
            try:  # take the partial batch back so the next line starts clean
                os.ftruncate(fd, self._size)
                os.fsync(fd)
            except OSError:  # cannot even cut it: continue in a new file
                self._switch(self.number + 1)
            raise
        self._size += len(data)
        self.bytes_written += len(data)

    def _switch(self, number: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.number = number
        self.bytes_written = 0


# Snapshots -------------------------------------------------------------------------------
def write_snapshot(path: Path, table: str, next_journal: int, lines: Iterable[bytes]) -> None:
    """Write a snapshot beside `path` and move it into place (the old one stays as .bak).

    Valid JSON with one record per line:
    {"format":2,"table":...,"next_journal":N,"records":[
    {...},
    {...}
    ]}
    """
    header = orjson.dumps({"format": SNAPSHOT_FORMAT, "table": table, "next_journal": next_journal})
    temp = path.with_name(f".{path.name}.compact.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        buffer = bytearray(header[:-1] + b',"records":[\n')
        first = True
        for line in lines:
            if not first:
                buffer += b",\n"
            buffer += line
            first = False
            if len(buffer) >= 1 << 20:
                write_all(fd, bytes(buffer))
                buffer.clear()
        buffer += b"\n]}\n"
        write_all(fd, bytes(buffer))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    if path.exists():
        path.replace(backup_path(path))
    temp.replace(path)
    fsync_dir(path.parent)


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


class LineBuffer:
    """Lines kept for a snapshot while a compaction reads millions of records: one
    bytearray, not a list of small bytes. Tens of thousands of lines kept among a million
    parsed and freed pinned the allocator's memory: a format-1 upgrade of L with 60k
    running subscriptions left the process at 437 MB (85 MB this way), see ArchiveWriter.
    A line must not contain a newline (orjson's never do)."""

    def __init__(self) -> None:
        self._data = bytearray()

    def append(self, line: bytes) -> None:
        self._data += line
        self._data += b"\n"

    def __iter__(self) -> Iterator[bytes]:
        data, start = self._data, 0
        while start < len(data):
            end = data.index(b"\n", start)
            yield bytes(data[start:end])
            start = end + 1


def read_snapshot(path: Path) -> tuple[int, Iterator[Record]]:
    """(next_journal, records). A format-1 file (one JSON list, today's old format)
    reads as next_journal 0. Missing: the .bak if a crash came between the two renames."""
    if not path.exists():
        backup = backup_path(path)
        if not backup.exists():
            return 0, iter(())
        logger.warning("%s missing; reading %s", path.name, backup.name)
        path = backup
    with path.open("rb") as file:
        if file.read(64).lstrip().startswith(b"["):
            return 0, _read_format_1(path)
        file.seek(0)
        first = file.readline(1 << 16)
    try:
        header = orjson.loads(first.rstrip().removesuffix(b"[") + b"[]}")
        next_journal = int(header["next_journal"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        reason = "empty file" if not first.strip() else "unreadable header"
        raise DamagedFileError(path, reason) from None
    return next_journal, _read_records(path)


def _read_format_1(path: Path) -> Iterator[Record]:
    """Records of a format-1 file (one JSON list, possibly hundreds of MB), one at a time:
    memory stays bounded by a chunk and one record."""
    decoder = json.JSONDecoder()
    with path.open("r", encoding="utf-8") as file:
        buffer, position, at_end = "", 0, False

        def more() -> bool:
            nonlocal buffer, position, at_end
            chunk = file.read(FORMAT_1_CHUNK)
            at_end = not chunk
            buffer, position = buffer[position:] + chunk, 0
            return not at_end

        def skip(characters: str) -> None:
            nonlocal position
            while True:
                while position < len(buffer) and buffer[position] in characters:
                    position += 1
                if position < len(buffer) or not more():
                    return

        skip(" \t\r\n")
        if buffer[position : position + 1] != "[":
            raise DamagedFileError(path, "not a list of records")
        position += 1
        while True:
            skip(" \t\r\n,")
            if position >= len(buffer):
                raise DamagedFileError(path, "cut short (no closing bracket)")
            if buffer[position] == "]":
                return
            try:
                record, position = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                if more():
                    continue  # the record runs past the chunk: read on
                raise DamagedFileError(path, "invalid JSON") from None
            yield record


def _read_records(path: Path) -> Iterator[Record]:
    with path.open("rb") as file:
        file.readline()  # the header
        for number, line in enumerate(file, 2):
            body = line.strip()
            if body == b"]}":
                return
            if not body:
                continue
            try:
                yield orjson.loads(body.removesuffix(b","))
            except orjson.JSONDecodeError:
                raise DamagedFileError(path, f"line {number} is not valid JSON") from None
    raise DamagedFileError(path, "cut short (no closing line)")


# Archives --------------------------------------------------------------------------------
class ArchiveWriter:
    """Appends records to their month files, buffered; `close` fsyncs every file touched.
    Records leave the snapshot only after this, so a crash between leaves duplicates
    (the last line wins when reading), never a gap."""

    FLUSH_BYTES = 4 << 20

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # One bytearray per month, not a list of small bytes: many small objects kept
        # while millions are parsed and freed would pin the allocator's arenas (a
        # format-1 upgrade of 1M payments held 1 GB that way).
        self._buffers: dict[str, bytearray] = {}
        self._fds: dict[str, int] = {}

    def add(self, month: str, line: bytes) -> None:
        buffer = self._buffers.get(month)
        if buffer is None:
            buffer = self._buffers[month] = bytearray()
        buffer += line
        buffer += b"\n"
        if len(buffer) >= self.FLUSH_BYTES:
            self._flush(month)

    def _flush(self, month: str) -> None:
        data = self._buffers.pop(month, None)
        if not data:
            return
        fd = self._fds.get(month)
        if fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{month}.jsonl"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            self._fds[month] = fd
            _cut_torn_tail(fd)
        size = os.fstat(fd).st_size
        try:
            write_all(fd, bytes(data))
        except OSError:
            with contextlib.suppress(OSError):  # leave no torn line for the next append
                os.ftruncate(fd, size)
            raise

    def close(self) -> None:
        try:
            for month in list(self._buffers):
                self._flush(month)
            for fd in self._fds.values():
                os.fsync(fd)
        finally:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
        if self.folder.exists():
            fsync_dir(self.folder)


def _cut_torn_tail(fd: int) -> None:
    """Cut bytes after the last newline: a write torn by a crash or a full disk, whose
    records are still in the snapshot (they leave it only after the archive is synced)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    tail = os.pread(fd, min(size, 1 << 16), max(0, size - (1 << 16)))
    if tail.endswith(b"\n"):
        return
    cut = tail.rfind(b"\n")
    keep = size - len(tail) + cut + 1 if cut >= 0 else 0
    if cut < 0 and size > len(tail):  # a torn line longer than 64 KiB: search further back
        data = os.pread(fd, size, 0)
        keep = data.rfind(b"\n") + 1
    os.ftruncate(fd, keep)


def archive_months(folder: Path) -> list[Path]:
    """Month files, oldest first."""
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


def read_archive(path: Path, needle: bytes | None = None) -> Iterator[Record]:
    """Records of one month file; with `needle`, only lines containing it are parsed."""
    with path.open("rb") as file:
        for line in file:
            if not line.endswith(b"\n"):
                return  # torn by a crash before its snapshot moved on: still in the snapshot
            if needle is not None and needle not in line:
                continue
            with contextlib.suppress(orjson.JSONDecodeError):
                yield orjson.loads(line)


def read_archive_latest(path: Path, key: Callable[[Record], str]) -> Iterator[Record]:
    """Each key's last line in a month file (a record archived again replaces its older
    line). Two passes, so memory holds keys, not records."""
    last: dict[str, int] = {}
    for number, raw in enumerate(read_archive(path)):
        last[key(raw)] = number
    for number, raw in enumerate(read_archive(path)):
        if last.get(key(raw)) == number:
            yield raw
