"""One answer at a time per group topic: the line its questions wait in, bounded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

GROUP_QUEUE_LIMIT = 20  # questions waiting in one topic


@dataclass(slots=True)
class Line:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    next_start: float = 0.0


class GroupLines:
    """One answer at a time per group topic, paced; bounded waiting."""

    def __init__(self) -> None:
        self._lines: dict[tuple[int, int], Line] = {}

    def enter(self, chat_id: int, thread_id: int) -> Line | None:
        line = self._lines.setdefault((chat_id, thread_id), Line())
        if line.waiting >= GROUP_QUEUE_LIMIT:
            return None
        line.waiting += 1
        return line

    def leave(self, chat_id: int, thread_id: int, line: Line) -> None:
        line.waiting -= 1
        if not line.waiting:
            self._lines.pop((chat_id, thread_id), None)
