"""YooMoney HTTP notifications: verified, then credited through the poller's path."""

from __future__ import annotations

import logging

from aiohttp import web

from services.money.yoomoney import Operation, YooMoneyChecker, notification_hash_ok

logger = logging.getLogger(__name__)

NOTIFICATION_PATH = "/yoomoney/notify"


def create_notification_app(checker: YooMoneyChecker, secret: str) -> web.Application:
    async def notify(request: web.Request) -> web.Response:
        form = await request.post()
        fields = {name: str(value) for name, value in form.items()}
        if not notification_hash_ok(fields, secret):
            logger.warning("YooMoney notification with a bad sha1_hash ignored")
            return web.Response(status=400, text="bad hash")
        if fields.get("test_notification") == "true":
            return web.Response(text="ok")
        if fields.get("unaccepted") == "true" or fields.get("codepro") == "true":
            logger.info("YooMoney operation %s not accepted yet", fields.get("operation_id"))
            return web.Response(text="ok")
        try:
            amount = float(fields.get("amount", "0"))
        except ValueError:
            return web.Response(status=400, text="bad amount")
        await checker.apply(
            Operation(
                operation_id=fields.get("operation_id", ""),
                status="success",
                direction="in",
                amount=amount,
                label=fields.get("label", ""),
            )
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(NOTIFICATION_PATH, notify)
    return app
