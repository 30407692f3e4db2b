"""Storage upkeep, the statistics flush and the YooMoney poller: loops over services."""

from __future__ import annotations

import asyncio
import logging

from config import Settings
from runtime.tasks import BackgroundTasks
from services.container import Services

logger = logging.getLogger(__name__)

MAINTENANCE_INTERVAL = 3600.0
FIRST_MAINTENANCE = 60.0  # journals left by earlier runs are folded in soon after a start


async def maintenance_loop(services: Services, interval: float = MAINTENANCE_INTERVAL) -> None:
    """Soon after start-up, then hourly: fold the money journal into snapshots, archive,
    and forget records that left the live set."""
    delay = FIRST_MAINTENANCE
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            await services.maintain()
        except Exception as error:
            logger.exception("Storage maintenance failed")
            await services.alerts.alert("maintenance", f"Storage maintenance failed: {error!r}")


def setup(tasks: BackgroundTasks, services: Services, settings: Settings) -> None:
    tasks.add("maintenance", lambda _: maintenance_loop(services))
    tasks.add("stats", lambda _: services.stats.run())
    tasks.add("payments", lambda _: services.yoomoney.run(settings.payment_check_interval))
