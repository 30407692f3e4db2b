"""Flood control: scripts are stopped, people are not.

Per user, a token bucket: BURST updates at once, refilled at RATE a second. The first
update beyond it gets one polite notice, then the user's updates are dropped quietly
for COOLDOWN seconds. A paste Telegram split into ten messages, or ten messages typed
fast, stays far below the bucket. Admins are exempt; the caller never passes payment
updates through here (money is never dropped).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from cachetools import TTLCache

RATE = 3.0  # updates a second, on average
BURST = 30  # updates at once
COOLDOWN = 30.0  # seconds of silence after the notice
TRACKED = 100_000  # users remembered at most (forgotten after a quiet minute)


class Verdict(Enum):
    PASS = "pass"
    WARN = "warn"  # the first update over the limit: tell the user once
    DROP = "drop"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    quiet_until: float = 0.0


class FloodControl:
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

    def check(self, user_id: int, now: float | None = None) -> Verdict:
        if user_id in self._exempt:
            return Verdict.PASS
        moment = time.monotonic() if now is None else now
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = _Bucket(tokens=float(self._burst), at=moment)
        if moment < bucket.quiet_until:
            self._buckets[user_id] = bucket
            return Verdict.DROP
        bucket.tokens = min(self._burst, bucket.tokens + (moment - bucket.at) * self._rate)
        bucket.at = moment
        self._buckets[user_id] = bucket
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.PASS
        bucket.quiet_until = moment + self._cooldown
        return Verdict.WARN
