"""Staged money changes: visible in memory at once, committed together, undone on failure.

`Staged` is one intent (a transaction and how to undo it); `StagedTable` is the one way a
service's live records change within it; `InFlight` lets readers wait for a write.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, ValuesView
from typing import Generic, TypeVar

from services.storage.base import Storage, Transaction

logger = logging.getLogger(__name__)


class Staged:
    """One money intent: the records to commit and how to undo their in-memory copies.

    Services install new records in memory before the first await (so a concurrent
    caller sees them: check-and-set), then `commit`. If the write fails, the memory is
    put back. A caller cancelled mid-commit does not cut it short: the write goes on,
    and the memory follows its outcome.
    """

    def __init__(self) -> None:
        self.transaction = Transaction()
        self._undo: list[Callable[[], None]] = []
        self._done: list[Callable[[], None]] = []

    def on_undo(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def on_commit(self, done: Callable[[], None]) -> None:
        """Run once the transaction is durable (what must not be seen before it is)."""
        self._done.append(done)

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()

    async def commit(self, storage: Storage) -> None:
        task = asyncio.ensure_future(storage.commit(self.transaction))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._settle)
            raise
        except BaseException:
            self.undo()
            raise
        self._committed()

    def _committed(self) -> None:
        for done in self._done:
            done()
        self._done.clear()

    def _settle(self, task: asyncio.Future[None]) -> None:
        if task.cancelled() or task.exception() is not None:
            logger.error("A money write failed after its caller was cancelled; undone")
            self.undo()
        else:
            self._committed()


class InFlight:
    """Commits in flight by record key: a caller that reads a record from memory while
    another caller's write of it is in flight waits for that write's outcome, so nobody
    is told of a change that never reached the disk."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Future[None]] = {}

    async def commit(self, staged: Staged, storage: Storage, keys: list[str]) -> None:
        task = asyncio.ensure_future(staged.commit(storage))
        for key in keys:
            self._tasks[key] = task

        def forget(_: object) -> None:
            for key in keys:
                if self._tasks.get(key) is task:
                    del self._tasks[key]

        task.add_done_callback(forget)
        await asyncio.shield(task)

    async def settled(self, key: str) -> None:
        """Wait for a write in flight of this record; raises if it failed."""
        task = self._tasks.get(key)
        if task is not None:
            await asyncio.shield(task)


K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class StagedTable(ABC, Generic[K, R]):
    """Live records by key, changed through `stage`: the new record is installed at once
    (before the caller's first await, so a concurrent caller sees it: check-and-set) and
    added to the transaction; if the write fails, the record it replaced is put back, or
    it is removed. Subclasses say how records are kept and indexed."""

    @abstractmethod
    def key_of(self, record: R) -> K: ...

    @abstractmethod
    def rows(self, transaction: Transaction) -> list[R]:
        """The transaction's list this kind of record is written in."""

    @abstractmethod
    def get(self, key: K) -> R | None: ...

    @abstractmethod
    def install(self, record: R) -> None:
        """Put `record` in place of the one with its key (no write)."""

    @abstractmethod
    def remove(self, record: R) -> None:
        """Take `record` out (no write)."""

    def stage(self, staged: Staged, record: R) -> R:
        key = self.key_of(record)
        old = self.get(key)
        self.install(record)
        self.rows(staged.transaction).append(record)

        def undo() -> None:
            if self.get(key) is not record:
                return  # replaced meanwhile: the later change's own undo decides
            if old is None:
                self.remove(record)
            else:
                self.install(old)

        staged.on_undo(undo)
        return record


class Table(StagedTable[K, R]):
    """A `StagedTable` in one dict; a subclass keeps its indexes by extending `install`
    and `remove`."""

    def __init__(self, key_of: Callable[[R], K], rows: Callable[[Transaction], list[R]]) -> None:
        self._key_of = key_of
        self._rows = rows
        self._records: dict[K, R] = {}

    def key_of(self, record: R) -> K:
        return self._key_of(record)

    def rows(self, transaction: Transaction) -> list[R]:
        return self._rows(transaction)

    def get(self, key: K) -> R | None:
        return self._records.get(key)

    def install(self, record: R) -> None:
        self._records[self._key_of(record)] = record

    def remove(self, record: R) -> None:
        self._records.pop(self._key_of(record), None)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def values(self) -> ValuesView[R]:
        return self._records.values()
