"""Flood control: scripts are stopped, people are not.

Per user, a token bucket of BURST tokens, refilled at RATE a second. An update costs
one token; a message that starts a model call of its own (nothing is being answered
for the sender) costs ANSWER_COST, as it brings a model call and an answer back, while
one sent during an answer queues and joins it, and costs one; what queued becomes one
more model call when the answer ends, and that call is charged ANSWER_COST - 1 more
(`charge`), so every model call costs at least ANSWER_COST whatever the timing. The
rate is the sender's: a message counts at its date, not when the bot gets to it (a
slow moment or a backlog after a restart is no flood). The first update beyond the
bucket gets one polite notice, then the user's updates are dropped quietly for
COOLDOWN seconds.

So a script sending 60 messages in a second gets at most (BURST + RATE) / ANSWER_COST
= 16 model calls, however slowly the bot answers, while ten messages typed fast (at
most 2 + 9 + 9 = 20 tokens) or a paste Telegram split in ten (its parts join) pass
whole. Admins are exempt; the caller never
passes payment updates through here (money is never dropped).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from cachetools import TTLCache

RATE = 3.0  # updates a second, on average
BURST = 30  # tokens at once: updates that join an answer, or half as many that start one
ANSWER_COST = 2  # tokens of a message that starts a model call of its own
COOLDOWN = 30.0  # seconds of silence after the notice
TRACKED = 100_000  # users remembered at most (forgotten after a quiet minute)


class Verdict(Enum):
    PASS = "pass"
    WARN = "warn"  # the first update over the limit: tell the user once
    DROP = "drop"


class Flood(Protocol):
    """Flood control's interface: FloodControl in this process, or the same numbers in
    Redis (services.shared.flood) for several processes."""

    async def check(
        self,
        user_id: int,
        now: float | None = None,
        cost: float = 1,
        *,
        joining: float | None = None,
    ) -> Verdict:
        """Take `cost` tokens of the user's bucket, or say why not. `now` is when the user
        sent it (a message's date): the rate is the sender's, not how fast the bot gets to
        the updates (a slow moment or a backlog after a restart is no flood). With
        `joining`, a private message: it costs `joining` instead while another of the
        user's messages is being handled (it joins that answer), and once passed it counts
        as being handled itself until `handled`."""
        ...

    async def handled(self, user_id: int) -> None:
        """A message that passed with `joining` is no longer being handled."""
        ...

    async def charge(self, user_id: int, cost: float, now: float | None = None) -> None:
        """Take `cost` tokens for work that already passed (a queued batch's model call):
        the bucket may run dry, so the user's next update is the one refused."""
        ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    quiet_until: float = 0.0


class FloodControl:
    """Flood control in this process's memory (one process)."""

    def __init__(
        self,
        *,
        rate: float = RATE,
        burst: int = BURST,
        cooldown: float = COOLDOWN,
        exempt: frozenset[int] = frozenset(),
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._cooldown = cooldown
        self._exempt = exempt
        self._buckets: TTLCache[int, _Bucket] = TTLCache(TRACKED, ttl=max(60.0, cooldown * 2))
        self._handling: dict[int, int] = {}  # user -> private messages being handled

    async def charge(self, user_id: int, cost: float, now: float | None = None) -> None:
        if user_id in self._exempt:
            return
        moment = time.time() if now is None else now
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = _Bucket(tokens=float(self._burst), at=moment)
        refill = max(0.0, moment - bucket.at) * self._rate
        bucket.tokens = max(0.0, min(self._burst, bucket.tokens + refill) - cost)
        bucket.at = max(bucket.at, moment)
        self._buckets[user_id] = bucket

    async def check(
        self,
        user_id: int,
        now: float | None = None,
        cost: float = 1,
        *,
        joining: float | None = None,
    ) -> Verdict:
        if joining is not None and user_id in self._handling:
            cost = joining
        verdict = self._take(user_id, now, cost)
        if joining is not None and verdict is Verdict.PASS:
            self._handling[user_id] = self._handling.get(user_id, 0) + 1
        return verdict

    async def handled(self, user_id: int) -> None:
        left = self._handling.get(user_id, 0) - 1
        if left > 0:
            self._handling[user_id] = left
        else:
            self._handling.pop(user_id, None)

    def _take(self, user_id: int, now: float | None, cost: float) -> Verdict:
        if user_id in self._exempt:
            return Verdict.PASS
        moment = time.time() if now is None else now
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = _Bucket(tokens=float(self._burst), at=moment)
        if moment < bucket.quiet_until:
            self._buckets[user_id] = bucket
            return Verdict.DROP
        refill = max(0.0, moment - bucket.at) * self._rate  # moments may come out of order
        bucket.tokens = min(self._burst, bucket.tokens + refill)
        bucket.at = max(bucket.at, moment)
        self._buckets[user_id] = bucket
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Verdict.PASS
        bucket.quiet_until = moment + self._cooldown
        return Verdict.WARN
