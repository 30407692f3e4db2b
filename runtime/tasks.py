"""Named background loops, started at start-up and cancelled at shutdown.

A singleton loop (payment checks, reminders, the outbox, ...) runs only while this
process leads (runtime/leader.py): with one process, always; with several on one
database, on one of them at a time, taken over when its process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from aiogram import Bot, Dispatcher

from runtime.leader import Leadership

Loop = Callable[[Bot], Coroutine[Any, Any, None]]  # given the bot once it runs


class BackgroundTasks:
    """Loops registered before start-up run from start-up until shutdown; singleton
    loops only while this process leads."""

    def __init__(self, leadership: Leadership | None = None) -> None:
        self.leadership = leadership if leadership is not None else Leadership()
        self._loops: list[tuple[str, Loop]] = []
        self._singletons: list[tuple[str, Loop]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._led: list[asyncio.Task[None]] = []
        self._bot: Bot | None = None
        self.leadership.listeners.append(self._lead_changed)

    def add(self, name: str, loop: Loop, *, singleton: bool = False) -> None:
        (self._singletons if singleton else self._loops).append((name, loop))

    async def start(self, bot: Bot) -> None:
        self._bot = bot
        self._tasks = [asyncio.create_task(loop(bot), name=name) for name, loop in self._loops]
        await self.leadership.start()

    async def stop(self) -> None:
        await self.leadership.stop()
        await _cancel(self._led)
        await _cancel(self._tasks)

    async def _lead_changed(self, leading: bool) -> None:
        if not leading:
            await _cancel(self._led)
        elif self._bot is not None and not self._led:
            bot = self._bot
            self._led = [asyncio.create_task(loop(bot), name=n) for n, loop in self._singletons]


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()


def setup(dispatcher: Dispatcher, leadership: Leadership | None = None) -> BackgroundTasks:
    tasks = BackgroundTasks(leadership)
    dispatcher.startup.register(tasks.start)
    dispatcher.shutdown.register(tasks.stop)
    return tasks
