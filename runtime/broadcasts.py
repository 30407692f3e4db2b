"""Broadcasts from start-up to shutdown (the runner is edge.broadcasts)."""

from __future__ import annotations

from aiogram import Bot, Dispatcher

from edge.broadcasts import BroadcastRunner
from edge.notifier import Notifier
from runtime.tasks import BackgroundTasks
from services.container import Services


def setup(
    dispatcher: Dispatcher, tasks: BackgroundTasks, services: Services, notifier: Notifier
) -> BroadcastRunner:
    """The runner handlers start broadcasts with; while this process leads it resumes
    unfinished ones and runs those started elsewhere; at shutdown the sends in flight
    finish (the next start resumes the rest)."""
    runner = BroadcastRunner(services.broadcasts, services.users, notifier, tasks.leadership)
    dispatcher["broadcast_runner"] = runner

    async def on_startup(bot: Bot) -> None:
        runner.attach(bot)

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(runner.stop)
    tasks.add("broadcasts", runner.watch, singleton=True)
    return runner
