"""Plan expiry reminders: 3 days and 1 day before the end, and at the end (each once)."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot

from config import Settings
from edge.notifier import Notifier
from runtime.tasks import BackgroundTasks
from services.container import Services
from services.money.subscriptions import Reminder
from texts import format_moment

logger = logging.getLogger(__name__)


async def send_reminder(bot: Bot, notifier: Notifier, settings: Settings, item: Reminder) -> None:
    await notifier.tell_user(
        bot,
        item.user_id,
        f"reminder_{item.kind}",
        plan=item.plan.name,
        end=format_moment(item.end, settings.zone),
    )


async def reminder_loop(
    bot: Bot, services: Services, notifier: Notifier, settings: Settings
) -> None:
    """Every REMINDER_INTERVAL seconds, send the reminders that are due (each once)."""
    while True:
        try:
            for item in await services.subscriptions.take_due_reminders():
                await send_reminder(bot, notifier, settings, item)
        except Exception as error:
            logger.exception("Reminder round failed")
            await services.alerts.alert("reminders", f"Plan reminders failed: {error!r}")
        await asyncio.sleep(settings.reminder_interval)


def setup(
    tasks: BackgroundTasks, services: Services, notifier: Notifier, settings: Settings
) -> None:
    tasks.add(
        "reminders",
        lambda bot: reminder_loop(bot, services, notifier, settings),
        singleton=True,
    )
