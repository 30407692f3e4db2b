"""One answer at a time per group topic: the line its questions wait in, bounded, in the
order they came, at least GROUP_SPACING seconds between answers (within Telegram's 20
messages a minute per group). `GroupLines` keeps the lines in this process's memory;
services.shared.lines.RedisLines in Redis, so two processes keep one line per topic."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from cachetools import TTLCache

GROUP_QUEUE_LIMIT = 20  # questions waiting in one topic
GROUP_SPACING = 3.0  # seconds between answers in one topic: at most 20 a minute
TRACKED = 100_000  # topics whose last answer's time is kept, at most


class Place(Protocol):
    """A question's place in its topic's line."""

    async def wait_turn(self) -> None:
        """Until every question before it is answered and the spacing has passed."""
        ...

    async def leave(self) -> None:
        """Done (answered, refused or failed): the next one's turn, GROUP_SPACING later
        if this one had its turn."""
        ...


class Lines(Protocol):
    async def enter(self, chat_id: int, thread_id: int) -> Place | None:
        """A place at the end of the topic's line; None when GROUP_QUEUE_LIMIT wait."""
        ...


@dataclass(slots=True)
class Line:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class _MemoryPlace:
    def __init__(self, lines: GroupLines, key: tuple[int, int], line: Line) -> None:
        self._lines, self._key, self._line = lines, key, line
        self._turn = False

    async def wait_turn(self) -> None:
        await self._line.lock.acquire()  # asyncio's lock is first come, first served
        self._turn = True
        next_start = self._lines.next_starts.get(self._key, 0.0)
        await asyncio.sleep(max(0.0, next_start - time.monotonic()))

    async def leave(self) -> None:
        line = self._line
        if self._turn:
            self._turn = False
            self._lines.next_starts[self._key] = time.monotonic() + GROUP_SPACING
            line.lock.release()
        line.waiting -= 1
        if not line.waiting:
            self._lines.drop(self._key, line)


class GroupLines:
    """Lines in this process's memory."""

    def __init__(self) -> None:
        self._lines: dict[tuple[int, int], Line] = {}
        # When each topic's next answer may start (kept past its line: an empty line's
        # next question is spaced from the last answer too).
        self.next_starts: TTLCache[tuple[int, int], float] = TTLCache(TRACKED, GROUP_SPACING)

    async def enter(self, chat_id: int, thread_id: int) -> Place | None:
        key = (chat_id, thread_id)
        line = self._lines.setdefault(key, Line())
        if line.waiting >= GROUP_QUEUE_LIMIT:
            return None
        line.waiting += 1
        return _MemoryPlace(self, key, line)

    def drop(self, key: tuple[int, int], line: Line) -> None:
        if self._lines.get(key) is line:
            del self._lines[key]
