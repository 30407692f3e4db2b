"""Flood control in Redis: the same token bucket as services.limits.flood (same numbers,
same verdicts), one atomic script per update, so two processes limit a user as one.

Keys: `<prefix>:flood:<user>` (a hash: tokens, at, quiet_until; expires after a quiet
minute, as the in-memory table forgets) and `<prefix>:flood:<user>:handling` (private
messages of the user being handled on any process; expires HANDLING_TTL after the last
one began, so a killed process leaves no discount behind for long). While Redis does not
answer, updates pass (the link says so once): what they would ask for — a model call,
a quota — is refused downstream without Redis, and /cancel or /help still work.
"""

from __future__ import annotations

import time

from redis.commands.core import AsyncScript

from services.limits.flood import BURST, COOLDOWN, RATE, Verdict
from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState

HANDLING_TTL = 600  # seconds: longer than any answer (REQUEST_TIMEOUT is 120 by default)

# KEYS: bucket, handling. ARGV: now, rate, burst, cooldown, cost, joining (-1: none),
# bucket ttl (ms), handling ttl (ms). Returns 0 PASS, 1 WARN, 2 DROP.
_CHECK = """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cooldown, cost, joining = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if joining >= 0 and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  cost = joining
end
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'quiet')
local tokens, at, quiet = tonumber(saved[1]), tonumber(saved[2]), tonumber(saved[3]) or 0
if tokens == nil then tokens, at = burst, now end
local verdict
if now < quiet then
  verdict = 2
else
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  at = math.max(at, now)
  if tokens >= cost then
    tokens = tokens - cost
    verdict = 0
  else
    quiet = now + cooldown
    verdict = 1
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'at', string.format('%.17g', at), 'quiet', string.format('%.17g', quiet))
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if verdict == 0 and joining >= 0 then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
end
return verdict
"""

# KEYS: bucket. ARGV: now, rate, burst, cost, bucket ttl (ms).
_CHARGE = """
local now, rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(saved[1]), tonumber(saved[2])
if tokens == nil then tokens, at = burst, now end
tokens = math.max(0, math.min(burst, tokens + math.max(0, now - at) * rate) - cost)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'at', string.format('%.17g', math.max(at, now)))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
"""

# KEYS: handling. One message fewer; the key goes with the last.
_HANDLED = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 0
"""

_VERDICTS = (Verdict.PASS, Verdict.WARN, Verdict.DROP)


class RedisFlood:
    """services.limits.flood.Flood in Redis."""

    def __init__(
        self,
        shared: SharedState,
        *,
        rate: float = RATE,
        burst: int = BURST,
        cooldown: float = COOLDOWN,
        exempt: frozenset[int] = frozenset(),
    ) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._rate = rate
        self._burst = burst
        self._cooldown = cooldown
        self._exempt = exempt
        self._ttl_ms = int(max(60.0, cooldown * 2) * 1000)
        self._check: AsyncScript = shared.redis.register_script(_CHECK)
        self._charge: AsyncScript = shared.redis.register_script(_CHARGE)
        self._handled: AsyncScript = shared.redis.register_script(_HANDLED)

    def _keys(self, user_id: int) -> list[str]:
        bucket = self._shared.key("flood", user_id)
        return [bucket, f"{bucket}:handling"]

    async def check(
        self,
        user_id: int,
        now: float | None = None,
        cost: float = 1,
        *,
        joining: float | None = None,
    ) -> Verdict:
        if user_id in self._exempt:
            return Verdict.PASS
        moment = time.time() if now is None else now
        args = [moment, self._rate, self._burst, self._cooldown, cost]
        args += [-1 if joining is None else joining, self._ttl_ms, HANDLING_TTL * 1000]
        try:
            verdict = await self._shared.link.call(
                lambda: self._check(keys=self._keys(user_id), args=args)
            )
        except SharedStateUnavailableError:
            return Verdict.PASS  # nothing it would ask for passes without Redis
        return _VERDICTS[int(verdict)]

    async def handled(self, user_id: int) -> None:
        if user_id in self._exempt:
            return
        try:
            await self._shared.link.call(lambda: self._handled(keys=self._keys(user_id)[1:]))
        except SharedStateUnavailableError:
            return  # the count expires by itself

    async def charge(self, user_id: int, cost: float, now: float | None = None) -> None:
        if user_id in self._exempt:
            return
        moment = time.time() if now is None else now
        args = [moment, self._rate, self._burst, cost, self._ttl_ms]
        try:
            await self._shared.link.call(
                lambda: self._charge(keys=self._keys(user_id)[:1], args=args)
            )
        except SharedStateUnavailableError:
            return
