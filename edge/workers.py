"""The tasks that write answers once the handler that queued a message has returned.

A chat handler only queues the message (edge/answering.submit) and returns, so the next
update of the chat is not held behind a whole answer (Telegram sends a chat's next
update to a webhook only after the previous one was answered). The answer and what
queues behind it are written here; shutdown waits for them like for handlers, then
cancels what is left (their queues are released for another process to take over).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Workers:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def idle(self) -> None:
        """Until no answer is being written (tests: an update's whole effect)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def wait(self, seconds: float) -> int:
        """Wait up to `seconds`; how many were still writing."""
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        return len(pending)

    async def stop(self) -> None:
        """Cancel what is left and let it clean up (release its queue)."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
