"""Staged money changes: visible in memory at once, committed together, undone on failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

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
