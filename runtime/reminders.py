"""Plan expiry reminders: 3 days and 1 day before the end, and at the end (each once)."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter

from config import Settings
from runtime.tasks import BackgroundTasks
from services.container import Services
from services.money.subscriptions import Reminder
from services.users import UsersService
from texts import format_moment, get_texts

logger = logging.getLogger(__name__)


async def send_reminder(bot: Bot, users: UsersService, settings: Settings, item: Reminder) -> None:
    user = await users.get(item.user_id)
    texts = get_texts(user.language if user else "ru")
    text = texts(
        f"reminder_{item.kind}", plan=item.plan.name, end=format_moment(item.end, settings.zone)
    )
    for _ in range(3):
        try:
            await bot.send_message(item.user_id, text)
            return
        except TelegramRetryAfter as error:
            await asyncio.sleep(error.retry_after)
        except TelegramForbiddenError:
            await users.mark_blocked(item.user_id)
            return
        except TelegramAPIError as error:
            logger.warning("Reminder to %s failed: %s", item.user_id, error)
            return


async def reminder_loop(bot: Bot, services: Services, settings: Settings) -> None:
    """Every REMINDER_INTERVAL seconds, send the reminders that are due (each once)."""
    while True:
        try:
            for item in await services.subscriptions.take_due_reminders():
                await send_reminder(bot, services.users, settings, item)
        except Exception as error:
            logger.exception("Reminder round failed")
            await services.alerts.alert("reminders", f"Plan reminders failed: {error!r}")
        await asyncio.sleep(settings.reminder_interval)


def setup(tasks: BackgroundTasks, services: Services, settings: Settings) -> None:
    tasks.add("reminders", lambda bot: reminder_loop(bot, services, settings))
