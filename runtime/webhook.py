"""Webhook mode (WEBHOOK_URL set): Telegram posts updates to the web server's WEBHOOK_URL
path, with WEBHOOK_SECRET in a header; aiogram's SimpleRequestHandler checks it
(`secrets.compare_digest`; 401 otherwise) and feeds the update to the dispatcher.

When Telegram gets its answer. Telegram sends a chat's next update only after a 2xx to
the previous one (the Bot API server's per-chat queue; a user's button presses have a
queue of their own). aiogram's default (`handle_in_background=True`) answers at once, so
with several processes behind the URL a chat's second message could be handled before its
first. Waiting for the whole handling instead (`handle_in_background=False`) would hold the
chat while an answer is written: /cancel and the messages meant to queue behind the answer
could not arrive, and Telegram resends after 60 s. So the answer comes when the update has
taken its place in order: its turn passed (edge.middlewares.Turn; the chat router passes it
once the message is in the user's answer queue), or handling ended, whichever is first;
the rest runs on in this process. A user's messages therefore reach the queue in the order
sent, whichever process takes each. After ACK_TIMEOUT the answer goes anyway (Telegram
would resend at 60 s) and the handling goes on.

Shutdown: from SIGTERM on, new updates get 503 (Telegram sends them again, to another
process or after the restart); updates not answered yet may finish within
SHUTDOWN_GRACE, then are cancelled and answered 503 (their claim released: see
edge/update_claims.py), so an update is never answered 2xx without being taken in.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from config import Settings
from edge.middlewares import TURN_ACK
from runtime import connect
from runtime.health import Health
from runtime.web import WebServer

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ACK_TIMEOUT = 55.0  # seconds before Telegram is answered anyway (it resends at 60)


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler (the secret checked in constant time), answering each update once
    its turn has passed; 503 while not accepting (before start-up, from shutdown on)."""

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, secret: str, *, ack_timeout: float = ACK_TIMEOUT
    ) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret)
        self.accepting = False
        self._ack_timeout = ack_timeout
        self._unanswered: dict[asyncio.Task[Any], asyncio.Event] = {}  # feed -> its turn
        self._all_answered = asyncio.Event()
        self._all_answered.set()

    async def close(self) -> None:
        """Leaves the bot's session open (aiogram's closes it with the app): answers still
        being written need it; bot.py closes it last."""

    async def handle(self, request: web.Request) -> web.Response:
        if self.accepting:
            return await super().handle(request)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            return web.Response(body="Unauthorized", status=401)
        return web.Response(status=503, text="not taking updates now")

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = await request.json(loads=bot.session.json_loads)
        except ValueError:
            return web.Response(status=400, text="not JSON")
        turn = asyncio.Event()
        feed = asyncio.create_task(
            self.dispatcher.feed_raw_update(bot, update, **{TURN_ACK: turn}, **self.data)
        )
        self._unanswered[feed] = turn
        self._all_answered.clear()
        taken = asyncio.create_task(turn.wait())
        try:
            await asyncio.wait(
                (feed, taken), timeout=self._ack_timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            taken.cancel()
            self._unanswered.pop(feed, None)
            if not self._unanswered:
                self._all_answered.set()
        if not feed.done():
            if not turn.is_set():
                logger.warning(
                    "Update %s still handled after %.0f s; Telegram answered so it does not "
                    "send it again",
                    update.get("update_id"),
                    self._ack_timeout,
                )
            feed.add_done_callback(self._background_result)
            return web.json_response({})
        if feed.cancelled():  # cut by the shutdown: Telegram sends it again
            return web.Response(status=503, text="stopping")
        if feed.exception() is not None:  # logged by aiogram; the claim was released
            return web.Response(status=500, text="not handled")
        self._background_result(feed)
        return web.json_response({})

    def _background_result(self, feed: asyncio.Task[Any]) -> None:
        """A method a handler returned instead of calling it is called (none does today)."""
        if feed.cancelled() or feed.exception() is not None:
            return
        result = feed.result()
        if isinstance(result, TelegramMethod):
            task = asyncio.ensure_future(self.dispatcher.silent_call_request(self.bot, result))
            self._background_feed_update_tasks.add(task)
            task.add_done_callback(self._background_feed_update_tasks.discard)

    async def drain(self, grace: float) -> int:
        """Stop taking updates; wait up to `grace` for the unanswered ones, then cancel
        those left (answered 503). Returns how many were cancelled."""
        self.accepting = False
        try:
            async with asyncio.timeout(grace):
                await self._all_answered.wait()
        except TimeoutError:
            pass
        left = list(self._unanswered)
        for feed in left:
            feed.cancel()
        if left:
            await asyncio.wait(left)
            await asyncio.sleep(0)  # their requests write the 503s
        return len(left)


async def serve(
    bot: Bot, dispatcher: Dispatcher, settings: Settings, health: Health, server: WebServer
) -> None:
    """Webhook mode from start to stop: the route, setWebhook (retried like polling's
    first contact), start-up, updates until SIGTERM/SIGINT, then the shutdown above."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    handler = WebhookHandler(dispatcher, bot, settings.webhook_secret.get_secret_value())
    path = urlsplit(settings.webhook_url).path or "/"
    handler.register(server.app, path=path)
    reached, _ = await connect.until_signal(
        connect.connect(
            bot, settings, health.telegram, server, dispatcher.resolve_used_update_types()
        )
    )
    if not reached:
        logger.info("Stopped before the webhook was set")
        return
    workflow = {"dispatcher": dispatcher, "bots": [bot], **dispatcher.workflow_data}
    await dispatcher.emit_startup(bot=bot, **workflow)
    handler.accepting = True
    health.webhook_set()  # /health: ok from now on
    logger.info("Webhook set; taking updates at %s on port %d", path, settings.web_port)
    try:
        await _until_signal()
    finally:
        cut = await handler.drain(settings.shutdown_grace)
        if cut:
            logger.warning("Stopping: %d update(s) answered 503 for Telegram to resend", cut)
        await dispatcher.emit_shutdown(bot=bot, **workflow)


async def _until_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def on_signal(number: signal.Signals) -> None:
        received.append(number.name)
        stop.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, on_signal, number)
    try:
        await stop.wait()
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
    logger.warning("Received %s signal", received[0] if received else "a")
