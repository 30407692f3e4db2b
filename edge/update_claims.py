"""Each update handled once, by update_id, though Telegram may deliver it twice.

Telegram redelivers a webhook update whose answer was not a 2xx or came after 60 s (to
this process or another behind the same URL), and a poller restarted after a crash
fetches again what it had not confirmed. `UpdateDedupe`, the outermost update middleware,
takes a claim on each update_id before anything else runs and drops an update whose
claim is already done.

A claim is taken as a lease while the update is handled and becomes "done" for 24 h only
when handling ends. So a process killed mid-update (`kill -9`) does not leave a done mark
that would make its redelivery dropped, a lost update: its lease runs out and the
redelivery is handled. An update whose handling raised (or was cancelled: a shutdown) is
released at once, so a redelivery is handled too. A copy arriving while another holder
handles the update waits for that holder's outcome, then is dropped or handled.

`MemoryClaims` (cachetools' TTL table) serves one process; `RedisClaims` serves several
on one Redis (`SET key token NX PX lease`, then the key set to "done" with a 24 h expiry;
scripts check the holder's token, so a holder whose lease ran out changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Final, Protocol

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update
from cachetools import TTLCache
from redis.commands.core import AsyncScript

from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState

logger = logging.getLogger(__name__)

DONE_TTL: Final = 86400  # seconds an update_id is remembered as handled: Telegram keeps
# an undelivered message a day, so no copy comes later
DONE_LIMIT: Final = 100_000  # update_ids one process remembers (redeliveries come within
# minutes; at this bound the oldest go first)
LEASE: Final = 15.0  # seconds a Redis claim outlives a holder that stopped renewing it
WAIT_POLL: Final = 0.2  # seconds between looks at a claim another holder has


class Claim(Enum):
    OWN = "own"  # this caller handles the update
    DONE = "done"  # handled already: drop it
    BUSY = "busy"  # another holder is handling it now: look again soon


class UpdateClaims(Protocol):
    """Who handles which update_id."""

    @property
    def lease(self) -> float | None:
        """Seconds a claim lasts unless renewed (None: while the process lives)."""

    async def take(self, update_id: int) -> Claim: ...

    async def renew(self, update_id: int) -> None:
        """Extend this holder's claim (called every lease/3 while handling)."""

    async def finish(self, update_id: int) -> None:
        """Handled: copies arriving within DONE_TTL are dropped."""

    async def release(self, update_id: int) -> None:
        """Not handled after all: the next copy is handled."""


class MemoryClaims:
    """One process's claims: a TTL table of the done ids, a set of those being handled."""

    lease: None = None

    def __init__(
        self,
        *,
        limit: int = DONE_LIMIT,
        ttl: float = DONE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._done: TTLCache[int, bool] = TTLCache(limit, ttl, timer=clock)
        self._busy: set[int] = set()

    async def take(self, update_id: int) -> Claim:
        if update_id in self._done:
            return Claim.DONE
        if update_id in self._busy:
            return Claim.BUSY
        self._busy.add(update_id)
        return Claim.OWN

    async def renew(self, update_id: int) -> None:
        return None

    async def finish(self, update_id: int) -> None:
        self._busy.discard(update_id)
        self._done[update_id] = True

    async def release(self, update_id: int) -> None:
        self._busy.discard(update_id)


# KEYS[1]: the update's key; ARGV[1]: this holder's token; ARGV[2]: the lease in ms.
_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'own' end
if redis.call('GET', KEYS[1]) == 'done' then return 'done' end
return 'busy'
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
"""
# ARGV[2]: DONE_TTL in seconds. A lapsed claim nobody took is marked done as well.
_FINISH = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then redis.call('SET', KEYS[1], 'done', 'EX', ARGV[2]) end
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""


class RedisClaims:
    """Claims shared by every process on one Redis: `<prefix>:update:<bot_id>:<id>`.
    Calls go through the shared link (one log line when Redis goes, one when it is back)."""

    def __init__(self, shared: SharedState, bot_id: int, *, lease: float = LEASE) -> None:
        assert shared.redis is not None
        self.lease = lease
        self._shared = shared
        self._bot_id = bot_id
        self._token = secrets.token_hex(8)  # this holder (process); never "done"
        self._lease_ms = str(int(lease * 1000))
        redis = shared.redis
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)

    def key(self, update_id: int) -> str:
        return self._shared.key("update", self._bot_id, update_id)

    async def _run(self, script: AsyncScript, update_id: int, *args: str | int) -> Any:
        keys = [self.key(update_id)]
        return await self._shared.link.call(lambda: script(keys=keys, args=[self._token, *args]))

    async def take(self, update_id: int) -> Claim:
        answer = await self._run(self._take, update_id, self._lease_ms)
        return Claim(answer.decode() if isinstance(answer, bytes) else answer)

    async def renew(self, update_id: int) -> None:
        await self._run(self._renew, update_id, self._lease_ms)

    async def finish(self, update_id: int) -> None:
        await self._run(self._finish, update_id, DONE_TTL)

    async def release(self, update_id: int) -> None:
        await self._run(self._release, update_id)


class UpdateDedupe(BaseMiddleware):
    """The outermost update middleware: a copy of an update handled (or being handled)
    elsewhere never reaches the others."""

    def __init__(self, claims: UpdateClaims, *, poll: float = WAIT_POLL) -> None:
        self._claims = claims
        self._poll = poll
        self.dropped = 0  # copies dropped since start
        self._unclaimed = False  # the claims could not be reached (said once)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = event.update_id
        claims = self._claims
        try:
            claim = await self._claim(update_id)
        except SharedStateUnavailableError:  # Redis away: handled unclaimed, not lost
            if not self._unclaimed:
                logger.warning("Updates are handled without dedupe until Redis answers")
            self._unclaimed = True
            return await handler(event, data)
        if self._unclaimed:
            logger.info("Updates are claimed again")
            self._unclaimed = False
        if claim is Claim.DONE:
            self.dropped += 1
            logger.info("Update %s dropped: it was handled already", update_id)
            return UNHANDLED
        keeper = None if claims.lease is None else asyncio.create_task(self._keep(update_id))
        try:
            result = await handler(event, data)
        except BaseException:
            # Errors (a cancellation at shutdown too) reach here before aiogram's error
            # handlers: any answer to Telegram but a 2xx brings a copy, to be handled.
            await _quietly(claims.release(update_id), "release", update_id)
            raise
        finally:
            if keeper is not None:
                keeper.cancel()
        await _quietly(claims.finish(update_id), "finish", update_id)
        return result

    async def _claim(self, update_id: int) -> Claim:
        """OWN or DONE: while another holder has it, wait for it to finish, fail or lapse."""
        while True:
            claim = await self._claims.take(update_id)
            if claim is not Claim.BUSY:
                return claim
            await asyncio.sleep(self._poll)

    async def _keep(self, update_id: int) -> None:
        assert self._claims.lease is not None
        while True:
            await asyncio.sleep(self._claims.lease / 3)
            await _quietly(self._claims.renew(update_id), "renew", update_id)


async def _quietly(step: Awaitable[None], name: str, update_id: int) -> None:
    """A claim step that failed (Redis away) is logged; the update's handling stands (a
    claim not finished lapses after its lease)."""
    try:
        await step
    except SharedStateUnavailableError as error:
        logger.warning("Could not %s the claim of update %s: %s", name, update_id, error)
