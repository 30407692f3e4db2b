"""Reaching Telegram at start-up: a rejected token stops it with one line; while Telegram
does not answer, retry with backoff and say so once. In polling mode the first calls are
getMe and deleteWebhook (a webhook left set would make getUpdates fail; pending updates
are kept); in webhook mode getMe and setWebhook (a URL or secret Telegram refuses stops
start-up with one line)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from aiogram.utils.backoff import Backoff

from config import TOKEN_KEY_LENGTH, ConfigError, Settings
from runtime import web
from runtime.health import UNREACHABLE, TelegramLink

T = TypeVar("T")

# Seconds the start-up calls (getMe, deleteWebhook or setWebhook) may take before counting
# as failed.
CONTACT_TIMEOUT = 15


class TokenRejectedError(Exception):
    """Telegram answered 401/404 to getMe: the token is wrong or revoked."""


def token_rejected(settings: Settings, error: TelegramAPIError) -> TokenRejectedError:
    key = settings.bot_token.get_secret_value().partition(":")[2]
    fix = "put the current token from @BotFather (/mybots, API Token)"
    if len(key) != TOKEN_KEY_LENGTH:
        fix = (
            f"its part after ':' has {len(key)} characters where a token from @BotFather has "
            f"{TOKEN_KEY_LENGTH}; copy the whole token from @BotFather again"
        )
    if isinstance(error, TelegramNotFound):  # a malformed token, or a wrong API URL
        return TokenRejectedError(
            f"Configuration error: BOT_TOKEN or TELEGRAM_API_URL was rejected by Telegram "
            f"({error.message}); TELEGRAM_API_URL is normally https://api.telegram.org; {fix}"
        )
    return TokenRejectedError(
        f"Configuration error: BOT_TOKEN was rejected by Telegram ({error.message}); {fix}"
    )


async def contact(
    bot: Bot, settings: Settings, link: TelegramLink, allowed_updates: list[str] | None = None
) -> bool:
    """getMe, then deleteWebhook (polling) or setWebhook (webhook mode, with the update
    types `allowed_updates`) once: True if Telegram answered; False (said once) if not."""
    try:
        await bot.get_me(request_timeout=CONTACT_TIMEOUT)
        if settings.webhook_url:
            await set_webhook(bot, settings, allowed_updates)
        else:
            await bot.delete_webhook(drop_pending_updates=False, request_timeout=CONTACT_TIMEOUT)
    except (TelegramUnauthorizedError, TelegramNotFound) as error:
        raise token_rejected(settings, error) from None
    except (*UNREACHABLE, TelegramAPIError) as error:  # no answer, or an unexpected one
        link.failed(error)
        return False
    link.succeeded()
    return True


async def set_webhook(bot: Bot, settings: Settings, allowed_updates: list[str] | None) -> None:
    """Telegram posts updates to WEBHOOK_URL with the secret from now on; the updates
    waiting (also those polling left) are kept. A refusal is a ConfigError naming it."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    try:
        await bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=allowed_updates,
            drop_pending_updates=False,
            max_connections=settings.webhook_max_connections,
            request_timeout=CONTACT_TIMEOUT,
        )
    except TelegramBadRequest as error:  # its text never holds the secret
        raise ConfigError(
            f"Configuration error: WEBHOOK_URL or WEBHOOK_SECRET was refused by Telegram "
            f"({error.message}); WEBHOOK_URL must be the public https:// address Telegram "
            f"can reach (port 443, 80, 88 or 8443)"
        ) from None


async def connect(
    bot: Bot,
    settings: Settings,
    link: TelegramLink,
    web_server: web.WebServer | None,
    allowed_updates: list[str] | None = None,
) -> None:
    """Reach Telegram before polling or serving the webhook: a rejected token (or webhook)
    stops start-up; while Telegram does not answer, retry with backoff (one log line). The
    web server (/health) starts after the first try, so a wrong token or port is the only
    line printed."""
    reachable = await contact(bot, settings, link, allowed_updates)
    if web_server is not None:
        await web_server.start()
    backoff = Backoff(DEFAULT_BACKOFF_CONFIG)  # aiogram's polling uses the same: 1 s to 5 s
    while not reachable:
        await backoff.asleep()
        reachable = await contact(bot, settings, link, allowed_updates)


async def until_signal(work: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
    """Run `work` until SIGTERM/SIGINT: (True, result), or (False, None) when stopped.
    aiogram handles the signals itself once polling starts."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, task.cancel)
    try:
        return True, await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if task.cancelled() and not (current and current.cancelling()):
            return False, None
        raise
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
