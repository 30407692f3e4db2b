"""Broadcasts from start-up to shutdown (the runner is edge.broadcasts)."""

from __future__ import annotations

from aiogram import Bot, Dispatcher

from edge.broadcasts import BroadcastRunner
from edge.notifier import Notifier
from services.container import Services


def setup(dispatcher: Dispatcher, services: Services, notifier: Notifier) -> BroadcastRunner:
    """The runner handlers start broadcasts with; resumes unfinished ones at start-up and
    lets the sends in flight finish at shutdown (the next start resumes the rest)."""
    runner = BroadcastRunner(services.broadcasts, services.users, notifier)
    dispatcher["broadcast_runner"] = runner

    async def on_startup(bot: Bot) -> None:
        runner.attach(bot)
        await runner.resume_unfinished()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(runner.stop)
    return runner
