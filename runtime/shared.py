"""With Redis: the loops of shared state, from start-up to shutdown — the event bus's
listener (Stop, 429 pauses and draft stops from other processes) and the look for queues
whose worker is gone (answered here instead)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot

from edge.answering import Answerer, adopt_orphans
from runtime.tasks import BackgroundTasks
from services.container import Services
from services.shared.link import SharedStateUnavailableError

logger = logging.getLogger(__name__)

ORPHAN_LOOK = 2.0  # seconds between looks for queues whose worker is gone


def setup(tasks: BackgroundTasks, services: Services, answerer: Answerer) -> None:
    bus = services.shared.bus
    if bus is None:
        return
    tasks.add("shared-events", lambda _bot: bus.listen())
    tasks.add("inbox-orphans", lambda bot: _orphans(answerer, bot))


async def _orphans(answerer: Answerer, bot: Bot) -> None:
    while True:
        await asyncio.sleep(ORPHAN_LOOK)
        with contextlib.suppress(SharedStateUnavailableError):  # the link says so
            await adopt_orphans(answerer, bot)
