"""Models that exist: at start-up and then every MODEL_CHECK_INTERVAL seconds (daily),
each provider's GET /models (services.model_check); users on a model no longer served
are moved when they next write (edge.model_moves)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Dispatcher

from config import Settings
from services.chat.model_check import ModelCheck
from services.container import Services
from services.operator.alerts import AlertService

logger = logging.getLogger(__name__)

# Start-up waits this long for the first round, so the first users already see the
# answer; a slower provider is still checked, in the background.
FIRST_CHECK_WAIT = 10.0


async def check_loop(
    check: ModelCheck, alerts: AlertService, interval: float, first_done: asyncio.Event
) -> None:
    """A round now, then one every `interval` seconds."""
    while True:
        try:
            await check.run_once()
        except Exception as error:
            logger.exception("Model check failed")
            await alerts.alert("model_check", f"Model list check failed: {error!r}")
        first_done.set()
        await asyncio.sleep(interval)


def setup(dispatcher: Dispatcher, services: Services, settings: Settings) -> None:
    """The check loop from start-up to shutdown (the move before a user's next message
    is a middleware, registered with the others in bot.py)."""
    interval = settings.model_check_interval
    if interval == 0:
        logger.info("MODEL_CHECK_INTERVAL is 0: provider model lists are not checked")
        return
    running: list[asyncio.Task[None]] = []

    async def on_startup() -> None:
        await services.model_check.load()
        first_done = asyncio.Event()
        task = asyncio.create_task(
            check_loop(services.model_check, services.alerts, interval, first_done),
            name="model-check",
        )
        running.append(task)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_done.wait(), FIRST_CHECK_WAIT)

    async def on_shutdown() -> None:
        for task in running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running.clear()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
