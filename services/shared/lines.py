"""A group topic's line in Redis: one answer at a time for every process, first come
first served, spaced, bounded (the memory version is edge/group_lines.GroupLines).

Keys, per topic: `<prefix>:line:<chat>:<thread>` (a list of tickets, the one answering
first; expires an hour after the last question), `...:alive:<ticket>` (a question still
waits or is answered: its process extends it every few seconds, so the line moves past
a killed process's question) and `...:next` (the earliest next start, unix seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from redis.commands.core import AsyncScript

from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState

ALIVE_TTL = 15.0  # seconds a question's place lasts unless its process extends it
KEEP_EVERY = 5.0
LOOK_EVERY = 0.2  # seconds between looks for its turn
LINE_TTL = 3600

# Tickets at the head whose process is gone leave the line first (one shared snippet).
_SKIP_DEAD = """
local head = redis.call('LINDEX', KEYS[1], 0)
while head and redis.call('EXISTS', KEYS[1] .. ':alive:' .. head) == 0 do
  redis.call('LPOP', KEYS[1])
  head = redis.call('LINDEX', KEYS[1], 0)
end
"""

# KEYS: line. ARGV: ticket, limit, alive ttl ms, line ttl ms. 1: in line; 0: full.
_ENTER = (
    _SKIP_DEAD
    + """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SET', KEYS[1] .. ':alive:' .. ARGV[1], '1', 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""
)

# KEYS: line. ARGV: ticket, alive ttl ms. The next start (unix seconds, 0: none) when it
# is this ticket's turn; -1 while others are before it.
_TURN = (
    _SKIP_DEAD
    + """
redis.call('PEXPIRE', KEYS[1] .. ':alive:' .. ARGV[1], ARGV[2])
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return '-1' end
return redis.call('GET', KEYS[1] .. ':next') or '0'
"""
)

# KEYS: line. ARGV: ticket, had its turn (1/0), next start, spacing ms.
_LEAVE = """
redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('DEL', KEYS[1] .. ':alive:' .. ARGV[1])
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1] .. ':next', ARGV[3], 'PX', ARGV[4])
end
return 0
"""


class _RedisPlace:
    def __init__(self, lines: RedisLines, key: str, ticket: str) -> None:
        self._lines, self._key, self._ticket = lines, key, ticket
        self._turn = False
        self._keeper = asyncio.get_running_loop().create_task(self._keep())

    async def wait_turn(self) -> None:
        lines = self._lines
        args: list[Any] = [self._ticket, int(ALIVE_TTL * 1000)]
        while True:
            start = float(await lines.call(lines.turn, [self._key], args))
            if start >= 0:
                break
            await asyncio.sleep(LOOK_EVERY)
        self._turn = True
        await asyncio.sleep(max(0.0, start - time.time()))

    async def leave(self) -> None:
        self._keeper.cancel()
        lines = self._lines
        spacing = lines.spacing
        args: list[Any] = [self._ticket, "1" if self._turn else "0", time.time() + spacing]
        args.append(int(spacing * 1000) + 1000)
        with contextlib.suppress(SharedStateUnavailableError):  # its place expires by itself
            await lines.call(lines.leave, [self._key], args)

    async def _keep(self) -> None:
        key = f"{self._key}:alive:{self._ticket}"
        redis = self._lines.shared.redis
        assert redis is not None
        while True:
            await asyncio.sleep(KEEP_EVERY)
            with contextlib.suppress(SharedStateUnavailableError):
                await self._lines.shared.link.call(
                    lambda: redis.pexpire(key, int(ALIVE_TTL * 1000))
                )


class RedisLines:
    def __init__(self, shared: SharedState, *, limit: int, spacing: float) -> None:
        assert shared.redis is not None
        self.shared = shared
        self.limit = limit
        self.spacing = spacing
        self.enter_script: AsyncScript = shared.redis.register_script(_ENTER)
        self.turn: AsyncScript = shared.redis.register_script(_TURN)
        self.leave: AsyncScript = shared.redis.register_script(_LEAVE)

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        return await self.shared.link.call(lambda: script(keys=keys, args=args))

    async def enter(self, chat_id: int, thread_id: int) -> _RedisPlace | None:
        """SharedStateUnavailableError when Redis does not answer."""
        key = self.shared.key("line", chat_id, thread_id)
        ticket = uuid.uuid4().hex
        args: list[Any] = [ticket, self.limit, int(ALIVE_TTL * 1000), LINE_TTL * 1000]
        if not await self.call(self.enter_script, [key], args):
            return None
        return _RedisPlace(self, key, ticket)
