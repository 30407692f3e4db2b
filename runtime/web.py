"""The bot's web server: `GET /health` always, YooMoney HTTP notifications when their
secret is set, Telegram's updates in webhook mode (runtime/webhook.py adds that route).
WEB_HOST:WEB_PORT (older names NOTIFICATION_HOST/NOTIFICATION_PORT); port 0 turns it off."""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable

from aiogram import Dispatcher
from aiohttp import web

from config import ConfigError, Settings
from runtime.health import Health
from services.container import Services
from services.money.yoomoney_webhook import NOTIFICATION_PATH, create_notification_app

logger = logging.getLogger(__name__)


class WebServer:
    """An aiohttp server in the bot's process, started and stopped with the bot."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        # Notifications are answered 503 (YooMoney retries) until the bot has started.
        self.accepting = False

    async def start(self) -> None:
        """Listen (once); a port that cannot be opened is a ConfigError naming the fix."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(self._bind_error(error)) from None
        self._runner = runner
        logger.info("Web server listening on %s:%d", self._host, self._port)

    @property
    def app(self) -> web.Application:
        """The application, for routes added before `start` (the webhook's)."""
        return self._app

    async def open_notifications(self) -> None:
        await self.start()
        self.accepting = True

    async def close_notifications(self) -> None:
        self.accepting = False

    async def stop(self) -> None:
        self.accepting = False
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _bind_error(self, error: OSError) -> str:
        where = f"{self._host}:{self._port}"
        if error.errno == errno.EACCES:
            why = "permission denied: ports below 1024 need root"
        elif error.errno == errno.EADDRINUSE:
            why = "the port is in use"
        else:
            why = error.strerror or str(error)
        return (
            f"Configuration error: WEB_PORT: cannot listen on {where} ({why}); "
            "set WEB_PORT to a free port such as 8080, or 0 to turn the web server off"
        )


SERVER_KEY = web.AppKey("server", WebServer)


@web.middleware
async def _gate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path == NOTIFICATION_PATH and not request.app[SERVER_KEY].accepting:
        return web.Response(status=503, text="starting")
    return await handler(request)


def create_server(settings: Settings, services: Services, health: Health) -> WebServer | None:
    """The server for these settings (not started yet), or None when WEB_PORT is 0."""
    secret = settings.notification_secret
    if settings.web_port == 0:
        if secret:
            logger.warning(
                "WEB_PORT is 0: YooMoney notifications are off (payments are still found by "
                "the periodic check)"
            )
        return None
    app = create_notification_app(services.yoomoney, secret) if secret else web.Application()
    app.middlewares.append(_gate)

    async def report(request: web.Request) -> web.Response:
        status, body = await health.report()
        return web.json_response(body, status=status)

    app.router.add_get("/health", report)
    server = WebServer(app, settings.web_host, settings.web_port)
    app[SERVER_KEY] = server
    return server


def setup(dispatcher: Dispatcher, server: WebServer | None) -> None:
    """Notifications are taken from start-up to shutdown (then answered 503: YooMoney
    retries). bot.py starts the server (for /health) before contacting Telegram, and stops
    it last, so /health and the webhook's 503s answer while the bot stops."""
    if server is None:
        return
    dispatcher.startup.register(server.open_notifications)
    dispatcher.shutdown.register(server.close_notifications)
