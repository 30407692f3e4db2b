"""With several processes on one database: what the others committed is taken into this
process's memory every second, so what a user sees (a plan paid through another
process) is current; every money decision also catches up first (services.money.sync)."""

from __future__ import annotations

import asyncio
import logging

from runtime.tasks import BackgroundTasks
from services.money.sync import MoneySync
from services.storage.base import StorageError

logger = logging.getLogger(__name__)

SYNC_INTERVAL = 1.0


async def sync_loop(sync: MoneySync, interval: float = SYNC_INTERVAL) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await sync.catch_up()
        except StorageError as error:  # the store retries and says so in /health
            logger.warning("Could not read other processes' money changes: %s", error)


def setup(tasks: BackgroundTasks, sync: MoneySync) -> None:
    if sync.shared:
        tasks.add("money-sync", lambda _: sync_loop(sync))
