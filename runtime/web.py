"""The bot's optional web server: YooMoney HTTP notifications."""

from __future__ import annotations

import logging

from aiogram import Dispatcher
from aiohttp import web

from config import Settings
from services.container import Services
from services.yoomoney_webhook import create_notification_app

logger = logging.getLogger(__name__)


class WebServer:
    """An aiohttp server in the bot's process, started and stopped with the bot."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        logger.info("Web server listening on %s:%d", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def setup(dispatcher: Dispatcher, services: Services, settings: Settings) -> WebServer | None:
    """Serve YooMoney notifications when their secret is set."""
    secret = settings.notification_secret
    if not secret:
        return None
    app = create_notification_app(services.yoomoney, secret)
    server = WebServer(app, settings.notification_host, settings.notification_port)
    dispatcher.startup.register(server.start)
    dispatcher.shutdown.register(server.stop)
    return server
