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
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from services.storage.atomic import DamagedFileError, fsync_dir, write_all

logger = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 2
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
        first = file.readline()
    if first.lstrip().startswith(b"["):
        return 0, _read_format_1(path)
    try:
        header = orjson.loads(first.rstrip().removesuffix(b"[") + b"[]}")
        next_journal = int(header["next_journal"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        reason = "empty file" if not first.strip() else "unreadable header"
        raise DamagedFileError(path, reason) from None
    return next_journal, _read_records(path)


def _read_format_1(path: Path) -> Iterator[Record]:
    try:
        records = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise DamagedFileError(path, f"invalid JSON ({error})") from None
    if not isinstance(records, list):
        raise DamagedFileError(path, "not a list of records")
    yield from records


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
def append_archive(folder: Path, by_month: dict[str, list[bytes]]) -> None:
    """Append records to their month files, fsynced: they leave the snapshot after this."""
    if not by_month:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for month, lines in sorted(by_month.items()):
        fd = os.open(folder / f"{month}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            write_all(fd, b"".join(line + b"\n" for line in lines))
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_dir(folder)


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
