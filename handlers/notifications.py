"""Background senders: plan expiry reminders."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter
from aiohttp import web

from config import Settings
from services.alerts import AlertService
from services.container import Services
from services.subscriptions import Reminder, SubscriptionService
from services.users import UsersService
from texts import format_moment, get_texts

logger = logging.getLogger(__name__)

MAINTENANCE_INTERVAL = 3600.0
FIRST_MAINTENANCE = 60.0  # journals left by earlier runs are folded in soon after a start


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


async def reminder_loop(
    bot: Bot,
    subscriptions: SubscriptionService,
    users: UsersService,
    alerts: AlertService,
    settings: Settings,
) -> None:
    """Every REMINDER_INTERVAL seconds, send the reminders that are due (each once)."""
    while True:
        try:
            for item in await subscriptions.take_due_reminders():
                await send_reminder(bot, users, settings, item)
        except Exception as error:
            logger.exception("Reminder round failed")
            await alerts.alert("reminders", f"Plan reminders failed: {error!r}")
        await asyncio.sleep(settings.reminder_interval)


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


class BackgroundTasks:
    """Starts named loops at start-up and cancels them at shutdown."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


class WebServer:
    """An optional aiohttp server in the bot's process (YooMoney notifications)."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None

    async def start(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        logger.info("Listening for YooMoney notifications on %s:%d", host, port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
