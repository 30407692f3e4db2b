"""Is the bot well: Telegram polling, storage, Redis (when REDIS_URL is set), uptime.
Behind `GET /health`.

`PollWatch` (an aiogram session middleware) sees every `getUpdates` answer: it records
the last successful poll and tells `TelegramLink`, which logs one line when Telegram
stops answering and one when it answers again. aiogram's own per-retry lines
("Failed to fetch updates", "Sleep for ...") are dropped by `PollingLogFilter`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from runtime.redis import RedisProbe

logger = logging.getLogger(__name__)

STORAGE_CHECK_TTL = 5.0  # seconds a storage check is reused
# Errors that mean Telegram (or the way to it) does not answer, not that it refuses.
UNREACHABLE = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, ClientDecodeError)
_REQUEST_URL = re.compile(r"\s*(?:for|to)?\s*https?://\S+")
# aiogram's polling loop logs these on every retry; TelegramLink says it once instead.
_AIOGRAM_RETRY_LINES = (
    "Failed to fetch updates",
    "Sleep for %f seconds and try again",
    "Connection established",
)


def describe(error: BaseException) -> str:
    """One short line: the error's class and first line of its text."""
    text = getattr(error, "message", None) or str(error)
    first = text.splitlines()[0] if text else ""
    first = _REQUEST_URL.sub("", first)  # the URL holds the token
    if not isinstance(error, TelegramNetworkError):  # its text already starts with a class
        first = f"{type(error).__name__}: {first}"
    return first[:300]


class TelegramLink:
    """Whether Telegram answers the bot's polling; logs once per change, never per retry."""

    def __init__(self) -> None:
        self.problem: str | None = None  # class name of the error polling fails with now
        self.unreachable = False  # that error: no answer (True), or a refusal such as 409

    def succeeded(self) -> None:
        if self.problem is not None:
            logger.info("Telegram reachable again" if self.unreachable else "Polling works again")
            self.problem = None

    def failed(self, error: BaseException) -> None:
        kind = type(error).__name__
        if kind == self.problem:
            return
        self.problem = kind
        self.unreachable = isinstance(error, UNREACHABLE)
        if self.unreachable:
            logger.warning("Telegram unreachable (%s); retrying", describe(error))
        else:
            logger.warning("Telegram refuses polling (%s); retrying", describe(error))


class PollWatch(BaseRequestMiddleware):
    """Session middleware: records each getUpdates answer (a type check for other calls).

    Until a poll has succeeded — after start-up and after an outage — getUpdates is sent
    as a short poll (timeout 0), so the answer, the recovery line and /health come at
    once rather than after a long poll of 10 s.
    """

    def __init__(self, health: Health) -> None:
        self._health = health

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if not isinstance(method, GetUpdates):
            return await make_request(bot, method)
        health = self._health
        if health.last_poll is None or health.telegram.problem is not None:
            method = cast(TelegramMethod[TelegramType], method.model_copy(update={"timeout": 0}))
        try:
            result = await make_request(bot, method)
        except Exception as error:
            health.telegram.failed(error)
            raise
        health.polled()
        return result


class PollingLogFilter(logging.Filter):
    """Drops aiogram's per-retry polling lines (TelegramLink logs the changes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(_AIOGRAM_RETRY_LINES))


def quiet_polling_retries() -> None:
    """Install PollingLogFilter on aiogram's dispatcher logger (once)."""
    aiogram_logger = logging.getLogger("aiogram.dispatcher")
    if not any(isinstance(f, PollingLogFilter) for f in aiogram_logger.filters):
        aiogram_logger.addFilter(PollingLogFilter())


def probe_writable(folder: Path) -> str | None:
    """Create, write and remove a small file in `folder`: None, or why that failed."""
    path = folder / f".health-{os.getpid()}.tmp"  # a leftover is removed at the next start
    try:
        with path.open("wb") as file:
            file.write(b"health\n")
        path.unlink()
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    return None


class Health:
    """The state `GET /health` reports; `report()` gives the HTTP status and the JSON."""

    def __init__(
        self,
        data_dir: Path,
        *,
        max_poll_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._data_dir = data_dir
        self._max_poll_age = max_poll_age
        self._clock = clock
        self.started = clock()
        self.last_poll: float | None = None  # in webhook mode: when setWebhook was answered
        self.webhook = False
        self.telegram = TelegramLink()
        self._storage: tuple[float, str | None] | None = None  # (checked at, problem)
        self.redis: RedisProbe | None = None  # set when REDIS_URL is
        # Set when DATABASE_URL is: why the database cannot be used now, or None (it is
        # then the storage checked, instead of DATA_DIR).
        self.database: Callable[[], Awaitable[str | None]] | None = None

    def webhook_set(self) -> None:
        """Webhook mode: setWebhook was answered. No getUpdates follow (nor a stall check:
        Telegram may have nothing to send for hours)."""
        self.webhook = True
        self.polled()

    def polled(self) -> None:
        """A getUpdates call was answered."""
        self.last_poll = self._clock()
        self.telegram.succeeded()

    async def storage_problem(self) -> str | None:
        """Why DATA_DIR is not writable (or the database not usable), or None; checked at
        most every few seconds."""
        if self._storage is None or self._clock() - self._storage[0] >= STORAGE_CHECK_TTL:
            if self.database is not None:
                problem = await self.database()
            else:
                problem = await asyncio.to_thread(probe_writable, self._data_dir)
            self._storage = (self._clock(), problem)
        return self._storage[1]

    async def report(self) -> tuple[int, dict[str, Any]]:
        storage = await self.storage_problem()
        redis = await self.redis.check() if self.redis is not None else None
        now = self._clock()
        age = None if self.last_poll is None else now - self.last_poll
        problems = []
        if self.telegram.problem is not None:
            unreachable = self.telegram.unreachable
            problems.append("telegram_unreachable" if unreachable else "polling_refused")
        elif age is None:
            problems.append("starting")
        elif age > self._max_poll_age and not self.webhook:
            problems.append("polling_stalled")
        if storage is not None:
            unusable = "database_unreachable" if self.database else "storage_not_writable"
            problems.append(unusable)
        if redis is not None:
            problems.append("redis_unreachable")
        body: dict[str, Any] = {
            "status": problems[0] if problems else "ok",
            "uptime_seconds": round(now - self.started, 1),
            "mode": "webhook" if self.webhook else "polling",
            "last_poll_seconds_ago": None if age is None or self.webhook else round(age, 1),
            "storage_writable": storage is None,
            "telegram_error": self.telegram.problem,
        }
        if self.redis is not None:
            body["redis_reachable"] = redis is None
        if self.database is not None:
            body["database_reachable"] = storage is None
        if len(problems) > 1:
            body["problems"] = problems
        return (503 if problems else 200), body
