"""Named background loops, started at start-up and cancelled at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from aiogram import Bot, Dispatcher

Loop = Callable[[Bot], Coroutine[Any, Any, None]]  # given the bot once it runs


class BackgroundTasks:
    """Loops registered before start-up run from start-up until shutdown."""

    def __init__(self) -> None:
        self._loops: list[tuple[str, Loop]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, name: str, loop: Loop) -> None:
        self._loops.append((name, loop))

    async def start(self, bot: Bot) -> None:
        self._tasks = [asyncio.create_task(loop(bot), name=name) for name, loop in self._loops]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


def setup(dispatcher: Dispatcher) -> BackgroundTasks:
    tasks = BackgroundTasks()
    dispatcher.startup.register(tasks.start)
    dispatcher.shutdown.register(tasks.stop)
    return tasks
