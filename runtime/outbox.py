"""The outbox worker's loop, from start-up to shutdown (the worker is edge.outbox)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Dispatcher

from edge.notifier import Notifier
from edge.outbox import OutboxWorker
from runtime.tasks import BackgroundTasks
from services.container import Services


def setup(
    dispatcher: Dispatcher,
    tasks: BackgroundTasks,
    services: Services,
    notifier: Notifier,
    zone: ZoneInfo,
) -> None:
    """The worker's loop runs from start-up; handlers get it as `outbox_worker`."""
    worker = OutboxWorker(services, notifier, zone)
    dispatcher["outbox_worker"] = worker
    tasks.add("outbox", worker.loop, singleton=True)
