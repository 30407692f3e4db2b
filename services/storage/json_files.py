"""What the parts of the JSON store share: DATA_DIR, the one file writer, and who is
told when a write fails or a damaged file is moved aside (admins get an alert)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from services.storage.atomic import DamagedFileError, FileWriter, quarantine, read_json

logger = logging.getLogger(__name__)

T = TypeVar("T")
STREAM_BATCH = 2_000

Listener = Callable[[str], Awaitable[object]]


class DataFiles:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.writer = FileWriter()
        self.writer.on_error = self._report_write_error
        self.problem_listeners: list[Listener] = []

    async def tell(self, text: str) -> None:
        for listener in self.problem_listeners:
            with contextlib.suppress(Exception):
                await listener(text)

    async def _report_write_error(self, path: Path, error: OSError) -> None:
        await self.tell(f"Storage write failed: {path.name}: {error.strerror or error}")

    def read_or_quarantine(self, path: Path, default: Any) -> tuple[Any, Path | None]:
        """Read a user's file; a damaged one is moved aside and reads as `default`."""
        try:
            return read_json(path, default), None
        except DamagedFileError as error:
            logger.error("Damaged file %s: %s", path, error.reason)
            return default, quarantine(self.data_dir, path)

    async def read_user_file(self, path: Path, default: Any) -> Any:
        """`read_or_quarantine` in a worker thread, telling about a file moved aside."""
        raw, moved = await asyncio.to_thread(self.read_or_quarantine, path, default)
        if moved is not None:
            await self.tell(f"Damaged file {path.name} moved to {moved.relative_to(self.data_dir)}")
        return raw


async def stream(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Run a blocking generator in a worker thread, a batch at a time."""
    iterator = make()
    while True:
        batch = await asyncio.to_thread(lambda: list(itertools.islice(iterator, STREAM_BATCH)))
        if not batch:
            return
        for item in batch:
            yield item
