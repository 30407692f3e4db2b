"""Cooldowns (at most once per so many seconds per key: the "check payment" button, an
alert) and windows (how many events per key in the last so many seconds: wrong promo
codes), in this process's memory or in Redis so every process counts as one.

Redis keys: `<prefix>:cooldown:<name>:<key>` (set while it cools down; expires with it)
and `<prefix>:window:<name>:<key>` (a sorted set of the events' times; expires a window
after the last). While Redis does not answer, each process counts in its memory (the
link says so once): a throttle then holds per process, never lets nothing through.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Protocol

from cachetools import TTLCache
from redis.commands.core import AsyncScript

from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState

TRACKED = 100_000  # keys kept in memory, at most


class Cooldown(Protocol):
    async def claim(self, key: str, now: float | None = None) -> float:
        """0: not cooling down (it does now, from `now`); else the seconds left."""
        ...


class Window(Protocol):
    async def count(self, key: str, now: float | None = None) -> int:
        """Events of `key` within the window before `now`."""
        ...

    async def add(self, key: str, now: float | None = None) -> None: ...


class MemoryCooldown:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: TTLCache[str, float] = TTLCache(TRACKED, ttl=seconds)

    async def claim(self, key: str, now: float | None = None) -> float:
        return self.claim_now(key, now)

    def claim_now(self, key: str, now: float | None = None) -> float:
        moment = time.monotonic() if now is None else now
        since = self._since.get(key)
        if since is not None and moment - since < self.seconds:
            return self.seconds - (moment - since)
        self._since[key] = moment
        return 0.0


class MemoryWindow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._events: TTLCache[str, tuple[float, ...]] = TTLCache(TRACKED, ttl=seconds)

    async def count(self, key: str, now: float | None = None) -> int:
        moment = time.time() if now is None else now
        events = self._events.get(key, ())
        recent = tuple(at for at in events if moment - at <= self.seconds)
        if recent != events and key in self._events:
            self._events[key] = recent
        return len(recent)

    async def add(self, key: str, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        self._events[key] = (*self._events.get(key, ()), moment)


# KEYS: window. ARGV: now, window seconds, member. Returns the count.
_WINDOW_COUNT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
"""
_WINDOW_ADD = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 0
"""


class RedisCooldown:
    """A cooldown every process shares (its own memory while Redis does not answer)."""

    def __init__(self, shared: SharedState, name: str, seconds: float) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._name = name
        self.seconds = seconds
        self._fallback = MemoryCooldown(seconds)

    async def claim(self, key: str, now: float | None = None) -> float:
        redis = self._shared.redis
        assert redis is not None
        name = self._shared.key("cooldown", self._name, key)
        ttl = max(1, int(self.seconds * 1000))

        async def claim() -> float:
            if await redis.set(name, "1", px=ttl, nx=True):
                return 0.0
            left = await redis.pttl(name)
            return max(0.001, left / 1000) if left > 0 else 0.001

        try:
            return await self._shared.link.call(claim)
        except SharedStateUnavailableError:
            return self._fallback.claim_now(key)


class RedisWindow:
    """A window every process shares (its own memory while Redis does not answer)."""

    def __init__(self, shared: SharedState, name: str, seconds: float) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._name = name
        self.seconds = seconds
        self._fallback = MemoryWindow(seconds)
        self._count: AsyncScript = shared.redis.register_script(_WINDOW_COUNT)
        self._add: AsyncScript = shared.redis.register_script(_WINDOW_ADD)

    def _key(self, key: str) -> list[str]:
        return [self._shared.key("window", self._name, key)]

    async def count(self, key: str, now: float | None = None) -> int:
        moment = time.time() if now is None else now
        args: list[float | str] = [moment, self.seconds, ""]
        try:
            found = await self._shared.link.call(
                lambda: self._count(keys=self._key(key), args=args)
            )
        except SharedStateUnavailableError:
            return await self._fallback.count(key, moment)
        return max(int(found), await self._fallback.count(key, moment))

    async def add(self, key: str, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        await self._fallback.add(key, moment)  # what this process saw counts either way
        args: list[float | str] = [moment, self.seconds, f"{moment}:{uuid.uuid4().hex[:8]}"]
        with contextlib.suppress(SharedStateUnavailableError):
            await self._shared.link.call(lambda: self._add(keys=self._key(key), args=args))
