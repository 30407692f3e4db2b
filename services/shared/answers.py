"""Answers being written, in Redis (services.chat.running.RunningAnswers), so a Stop
pressed on one process stops the answer another process writes, within a second.

Keys: `<prefix>:answer:<owner>` (the running answer's token; expires ANSWER_TTL after
its process last extended it) and `<prefix>:answer:<owner>:stop` (the token of the
answer a Stop asked to end). A Stop sets the second and publishes `stop` on the event
bus: the writing process ends the answer at once; if it missed the event (its
subscription was reconnecting), its keeper sees the key at its next tick (KEEP_EVERY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from redis.commands.core import AsyncScript

from services.shared.bus import EventBus
from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState

logger = logging.getLogger(__name__)

ANSWER_TTL = 5.0  # seconds a running answer's key lasts unless extended
KEEP_EVERY = 1.0  # seconds between extensions (and looks for a missed Stop)
STOP_TTL = 30.0  # seconds a Stop's key waits to be seen

# KEYS: answer, stop. ARGV: token, ttl ms. 0: not this answer's (over); 1: extended;
# 2: extended, and a Stop asks it to end.
_KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then return 2 end
return 1
"""

# KEYS: answer, stop.
_END = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end
return 0
"""

# KEYS: answer, stop. ARGV: stop ttl ms, channel, owner. The running answer's token
# (asked to stop), or false when none runs.
_STOP = """
local token = redis.call('GET', KEYS[1])
if not token then return false end
redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[2], cjson.encode({kind = 'stop', owner = ARGV[3], token = token}))
return token
"""


class RedisAnswers:
    def __init__(self, shared: SharedState, bus: EventBus) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._channel = shared.key("events")
        self._local: dict[int, tuple[str, Callable[[], object]]] = {}
        self._keepers: dict[int, asyncio.Task[None]] = {}
        redis = shared.redis
        self._keep: AsyncScript = redis.register_script(_KEEP)
        self._end: AsyncScript = redis.register_script(_END)
        self._stop: AsyncScript = redis.register_script(_STOP)
        bus.on("stop", self._on_stop)

    def _keys(self, owner: int) -> list[str]:
        answer = self._shared.key("answer", owner)
        return [answer, f"{answer}:stop"]

    async def begin(self, owner: int, stop: Callable[[], object]) -> str:
        token = uuid.uuid4().hex
        self._local[owner] = (token, stop)
        redis = self._shared.redis
        assert redis is not None
        key = self._keys(owner)[0]
        ttl = int(ANSWER_TTL * 1000)
        # Redis away: a Stop on this process still works; the keeper sets it once it is back.
        with contextlib.suppress(SharedStateUnavailableError):
            await self._shared.link.call(lambda: redis.set(key, token, px=ttl))
        self._keepers[owner] = asyncio.get_running_loop().create_task(
            self._keep_running(owner, token), name=f"answer-keeper-{owner}"
        )
        return token

    async def end(self, owner: int, token: str) -> None:
        if self._local.get(owner, ("",))[0] == token:
            del self._local[owner]
        keeper = self._keepers.pop(owner, None)
        if keeper is not None:
            keeper.cancel()
        with contextlib.suppress(SharedStateUnavailableError):  # it expires by itself
            await self._shared.link.call(lambda: self._end(keys=self._keys(owner), args=[token]))

    async def stop(self, owner: int) -> bool:
        """SharedStateUnavailableError when Redis does not answer."""
        args: list[Any] = [int(STOP_TTL * 1000), self._channel, str(owner)]
        token = await self._shared.link.call(lambda: self._stop(keys=self._keys(owner), args=args))
        return token is not None

    def _on_stop(self, event: dict[str, Any]) -> None:
        owner = int(event["owner"])
        running = self._local.get(owner)
        if running is not None and running[0] == event.get("token"):
            running[1]()

    async def _keep_running(self, owner: int, token: str) -> None:
        redis = self._shared.redis
        assert redis is not None
        key, ttl = self._keys(owner)[0], int(ANSWER_TTL * 1000)
        while self._local.get(owner, ("",))[0] == token:
            await asyncio.sleep(KEEP_EVERY)
            try:
                kept = await self._shared.link.call(
                    lambda: self._keep(keys=self._keys(owner), args=[token, ttl])
                )
                if kept == 0:  # expired while Redis was away: it runs still, say so again
                    await self._shared.link.call(lambda: redis.set(key, token, px=ttl))
            except SharedStateUnavailableError:
                continue
            if kept == 2:
                running = self._local.get(owner)
                if running is not None and running[0] == token:
                    running[1]()
                return
