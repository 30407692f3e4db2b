"""The per-user request queue in Redis (services.chat.inbox.RequestQueue): a user's
messages, whichever process handles them, join one queue in arrival order, and one
worker at a time answers them, batching what queued behind its answer as in memory.

Keys, per user: `<prefix>:inbox:<user>` (a list of requests as JSON, pictures in
base64; expires a day after the last message), `<prefix>:inbox:<user>:worker` (the
worker's token: who answers; expires WORKER_TTL after its holder last extended it, so
a killed process's queue is taken over), `<prefix>:inbox:<user>:told` (the user heard
"queue full" since it last drained); `<prefix>:inbox:waiting` (a sorted set of the users
with messages waiting, by when the last arrived: where a live process looks for queues
whose worker is gone). Each step is one Lua script, so two processes never both become a
user's worker, and a message is never left behind a worker that has just finished.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.commands.core import AsyncScript

from services.chat.inbox import (
    PASTE_PART,
    PASTE_WAIT,
    QUEUE_LIMIT,
    Offer,
    Photo,
    Request,
    join_messages,
)
from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState

logger = logging.getLogger(__name__)

WORKER_TTL = 15.0  # seconds a worker's claim lasts unless its holder extends it
KEEP_EVERY = 5.0  # seconds between extensions while it answers
QUEUE_TTL = 86_400  # seconds waiting messages are kept (Telegram drops older updates too)
PASTE_POLL = 0.05  # seconds between looks for the next part of a paste or album
ORPHAN_AGE = 2.0  # seconds a queue waits before a worker-less one is taken over
ORPHAN_PAGE = 500  # users looked at per look (those with a live worker are skipped)
RELEASE_RETRY = 0.5  # seconds between tries to release a claim while Redis is away

# KEYS: queue, worker, told, waiting. ARGV: token, worker ttl ms, limit, entry, now,
# queue ttl ms, user.
_OFFER = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  redis.call('DEL', KEYS[3])
  if redis.call('LLEN', KEYS[1]) > 0 then
    redis.call('RPUSH', KEYS[1], ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    return 'adopted'
  end
  return 'start'
end
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  if redis.call('EXISTS', KEYS[3]) == 1 then return 'dropped' end
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
  return 'full'
end
redis.call('RPUSH', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[7])
return 'queued'
"""

# KEYS: queue, worker, told, waiting. ARGV: token, worker ttl ms, user. Everything that
# waits, or (nothing waits) the worker released in the same step; false: not the worker.
_NEXT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return false end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[3])
if #items == 0 then
  redis.call('DEL', KEYS[2])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return items
"""

# KEYS: queue, worker. ARGV: token, album ('' for a paste). The next part of the paste or
# album if it is there: the entry; 'none' (nothing yet), 'other' (the next message is not
# a part) or 'lost' (no longer the worker).
_NEXT_PART = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lost' end
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return 'none' end
if ARGV[2] ~= '' and cjson.decode(head)['a'] ~= ARGV[2] then return 'other' end
return redis.call('LPOP', KEYS[1])
"""

# KEYS: queue, told, waiting. ARGV: user. How many were dropped.
_DROP = """
local count = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return count
"""

# KEYS: worker. ARGV: token, ttl ms. 1: extended; 0: not the worker (any more).
_KEEP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: worker. ARGV: token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: queue, worker, waiting. ARGV: token, ttl ms, user. 1: the caller is the worker
# of a queue whose worker is gone; 0: it has one, or nothing waits (forgotten).
_ADOPT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[3])
  return 0
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""

_OFFERS = {
    b"start": Offer.START,
    b"adopted": Offer.START,
    b"queued": Offer.QUEUED,
    b"full": Offer.FULL,
    b"dropped": Offer.DROPPED,
}


def encode(request: Request) -> bytes:
    """A request as the queue holds it (JSON; `a`, the album, is read by the scripts)."""
    return orjson.dumps(
        {
            "t": request.text,
            "p": [[base64.b64encode(p.data).decode(), p.mime_type] for p in request.photos],
            "k": list(request.kept_images),
            "a": request.album,
        }
    )


def decode(entry: bytes) -> Request:
    raw: dict[str, Any] = orjson.loads(entry)
    photos = tuple(Photo(base64.b64decode(data), mime) for data, mime in raw["p"])
    return Request(raw["t"], photos, tuple(raw["k"]), raw["a"])


class RedisInbox:
    """RequestQueue in Redis. The worker's claim is extended every KEEP_EVERY seconds
    while it answers; a process that dies leaves its claim to expire, and the user's next
    message, or any process's look for orphans, takes the queue over."""

    def __init__(
        self,
        shared: SharedState,
        *,
        limit: int = QUEUE_LIMIT,
        paste_part: int = PASTE_PART,
        paste_wait: float = PASTE_WAIT,
        worker_ttl: float = WORKER_TTL,
    ) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._limit = limit
        self._paste_part = paste_part
        self._paste_wait = paste_wait
        self._ttl_ms = int(worker_ttl * 1000)
        self._keep_every = min(KEEP_EVERY, worker_ttl / 3)
        self.on_batch: Callable[[int], Awaitable[None]] | None = None
        self._process = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._held: dict[int, str] = {}  # user -> this process's worker token
        self._adopted: set[int] = set()  # workers that began with messages left waiting
        self._keepers: dict[int, asyncio.Task[None]] = {}
        self._releasing: set[asyncio.Task[None]] = set()
        redis = shared.redis
        self._offer: AsyncScript = redis.register_script(_OFFER)
        self._next: AsyncScript = redis.register_script(_NEXT)
        self._next_part: AsyncScript = redis.register_script(_NEXT_PART)
        self._drop: AsyncScript = redis.register_script(_DROP)
        self._keep: AsyncScript = redis.register_script(_KEEP)
        self._release: AsyncScript = redis.register_script(_RELEASE)
        self._adopt: AsyncScript = redis.register_script(_ADOPT)

    @property
    def limit(self) -> int:
        return self._limit

    def _keys(self, user_id: int) -> list[str]:
        queue = self._shared.key("inbox", user_id)
        return [queue, f"{queue}:worker", f"{queue}:told", self._shared.key("inbox", "waiting")]

    async def _call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        return await self._shared.link.call(lambda: script(keys=keys, args=args))

    async def offer(self, user_id: int, request: Request) -> Offer:
        token = f"{self._process}-{uuid.uuid4().hex[:8]}"
        args = [token, self._ttl_ms, self._limit, encode(request), time.time()]
        args += [QUEUE_TTL * 1000, user_id]
        answer = await self._call(self._offer, self._keys(user_id), args)
        offer = _OFFERS[answer]
        if offer is Offer.START:
            self._hold(user_id, token)
            if answer == b"adopted":  # a worker died with messages waiting: they go first
                self._adopted.add(user_id)
        return offer

    async def claim(self, user_id: int) -> bool:
        token = f"{self._process}-{uuid.uuid4().hex[:8]}"
        worker = self._keys(user_id)[1]
        redis = self._shared.redis
        assert redis is not None
        taken = await self._shared.link.call(
            lambda: redis.set(worker, token, px=self._ttl_ms, nx=True)
        )
        if taken:
            self._hold(user_id, token)
        return bool(taken)

    async def first_request(self, user_id: int, request: Request) -> Request:
        if user_id in self._adopted:
            self._adopted.discard(user_id)
            adopted = await self._take_all(user_id)
            if adopted is not None:
                return adopted
        parts = [request]
        while len(parts[-1].text) >= self._paste_part or parts[-1].album is not None:
            part = await self._wait_part(user_id, parts[-1].album)
            if part is None:
                break
            parts.append(part)
        return join_messages(parts, self._paste_part)

    async def _wait_part(self, user_id: int, album: str | None) -> Request | None:
        """The next part of the paste or album, waited for up to paste_wait."""
        token = self._held.get(user_id)
        if token is None:
            return None
        keys = self._keys(user_id)[:2]
        deadline = time.monotonic() + self._paste_wait
        while True:
            try:
                found = await self._call(self._next_part, keys, [token, album or ""])
            except SharedStateUnavailableError:  # answered with the parts in hand
                return None
            if found not in (b"none", b"other", b"lost"):
                return decode(found)
            if found != b"none" or time.monotonic() >= deadline:
                return None
            await asyncio.sleep(PASTE_POLL)

    async def next_request(self, user_id: int) -> Request | None:
        request = await self._take_all(user_id)
        if request is None:
            self._forget(user_id)
            return None
        if self.on_batch is not None:
            await self.on_batch(user_id)
        return request

    async def _take_all(self, user_id: int) -> Request | None:
        """Everything waiting as one request; None (and released) when nothing waits or
        this process is no longer the worker."""
        token = self._held.get(user_id)
        if token is None:
            return None
        items = await self._call(self._next, self._keys(user_id), [token, self._ttl_ms, user_id])
        if not items:  # nothing (released), or taken over meanwhile
            self._forget(user_id)
            return None
        return join_messages([decode(item) for item in items], self._paste_part)

    async def drop(self, user_id: int) -> int:
        queue, _, told, waiting = self._keys(user_id)
        return int(await self._call(self._drop, [queue, told, waiting], [user_id]))

    async def release(self, user_id: int) -> None:
        token = self._held.get(user_id)
        self._forget(user_id)
        if token is None:
            return
        try:
            await self._call(self._release, self._keys(user_id)[1:2], [token])
        except SharedStateUnavailableError:  # freed as soon as Redis answers (or expires)
            task = asyncio.get_running_loop().create_task(self._release_later(user_id, token))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def _release_later(self, user_id: int, token: str) -> None:
        deadline = time.monotonic() + self._ttl_ms / 1000
        while time.monotonic() < deadline:
            await asyncio.sleep(RELEASE_RETRY)
            with contextlib.suppress(SharedStateUnavailableError):
                await self._call(self._release, self._keys(user_id)[1:2], [token])
                return

    async def orphans(self) -> list[int]:
        redis = self._shared.redis
        assert redis is not None
        waiting = self._shared.key("inbox", "waiting")
        before = time.time() - ORPHAN_AGE
        users = await self._shared.link.call(
            lambda: redis.zrangebyscore(waiting, "-inf", before, start=0, num=ORPHAN_PAGE)
        )
        adopted = []
        for raw in users:
            user_id = int(raw)
            if user_id in self._held:
                continue
            token = f"{self._process}-{uuid.uuid4().hex[:8]}"
            queue, worker, _, _ = self._keys(user_id)
            keys = [queue, worker, waiting]
            if await self._call(self._adopt, keys, [token, self._ttl_ms, user_id]):
                self._hold(user_id, token)
                adopted.append(user_id)
        return adopted

    # The worker's claim ------------------------------------------------------------------
    def _hold(self, user_id: int, token: str) -> None:
        self._held[user_id] = token
        old = self._keepers.pop(user_id, None)
        if old is not None:
            old.cancel()
        self._keepers[user_id] = asyncio.get_running_loop().create_task(
            self._keep_claim(user_id, token), name=f"inbox-keeper-{user_id}"
        )

    def _forget(self, user_id: int) -> None:
        self._held.pop(user_id, None)
        self._adopted.discard(user_id)
        keeper = self._keepers.pop(user_id, None)
        if keeper is not None and keeper is not asyncio.current_task():
            keeper.cancel()

    async def _keep_claim(self, user_id: int, token: str) -> None:
        worker = self._keys(user_id)[1]
        while self._held.get(user_id) == token:
            await asyncio.sleep(self._keep_every)
            try:
                kept = await self._call(self._keep, [worker], [token, self._ttl_ms])
            except SharedStateUnavailableError:
                continue  # the link said so; the claim may expire meanwhile
            if not kept:
                logger.warning("User %s's queue was taken over by another process", user_id)
                return
