"""Storage upkeep, the statistics flush and the YooMoney poller: loops over services."""

from __future__ import annotations

import asyncio
import logging

from config import Settings
from runtime.tasks import BackgroundTasks
from services.container import Services
from services.operator.money_watch import MoneyWatch

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


async def money_watch_loop(watch: MoneyWatch, interval: float) -> None:
    """Every MONEY_WATCH_INTERVAL seconds: look for money leaks (each alert at most once a
    day)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await watch.check()
        except Exception:
            logger.exception("Money watch failed")


def setup(tasks: BackgroundTasks, services: Services, settings: Settings) -> None:
    tasks.add("maintenance", lambda _: maintenance_loop(services))
    watch = MoneyWatch(
        services.stats,
        services.payments,
        services.alerts,
        settings.zone,
        daily_cost_limit=settings.daily_cost_alert_rub,
        star_rate=settings.star_rub_rate,
    )
    tasks.add(
        "money-watch",
        lambda _: money_watch_loop(watch, settings.money_watch_interval),
        singleton=True,
    )
    tasks.add("stats", lambda _: services.stats.run())
    tasks.add(
        "payments",
        lambda _: services.yoomoney.run(settings.payment_check_interval),
        singleton=True,
    )
