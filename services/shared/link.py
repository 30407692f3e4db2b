"""Whether Redis answers: one log line when it stops, one when it answers again."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.errors import UserFacingError

logger = logging.getLogger(__name__)

T = TypeVar("T")

FAST_FAIL = 1.0  # seconds after a failure in which calls fail at once (no retry waits)

# What redis-py raises when Redis does not answer (as opposed to refusing a command, which
# is a bug and raised as it is); a call may also end in a bare OSError.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
UNREACHABLE = (*REDIS_DOWN, OSError)


class SharedStateUnavailableError(UserFacingError):
    """Redis does not answer: what needs it is refused, nothing is counted or charged."""

    TEXT_KEYS = frozenset({"shared_unavailable"})

    def __init__(self, detail: str = "") -> None:
        super().__init__("shared_unavailable", detail or "Redis unreachable")


def describe(error: BaseException) -> str:
    """The error's class and first line (redis-py's texts name host and port, never a
    password)."""
    first = (str(error).splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}"[:300]


class RedisLink:
    """Redis's state as the bot last saw it; logs only the changes."""

    def __init__(self) -> None:
        self.problem: str | None = None  # the failure while Redis does not answer
        self._failed_at = 0.0

    @property
    def up(self) -> bool:
        return self.problem is None

    def succeeded(self) -> None:
        if self.problem is not None:
            self.problem = None
            logger.info("Redis reachable again")

    def failed(self, error: BaseException) -> None:
        if self.problem is None:
            logger.warning("Redis unreachable (%s); refusing what needs it", describe(error))
        self.problem = describe(error)
        self._failed_at = time.monotonic()

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """`operation`'s result; SharedStateUnavailableError (the link told) when Redis
        does not answer. Right after a failure calls fail at once, so an outage does not
        cost every update the client's retries (the probe and later calls see it back)."""
        if self.problem is not None and time.monotonic() - self._failed_at < FAST_FAIL:
            raise SharedStateUnavailableError(self.problem)
        try:
            result = await operation()
        except UNREACHABLE as error:
            self.failed(error)
            raise SharedStateUnavailableError(describe(error)) from error
        self.succeeded()
        return result
