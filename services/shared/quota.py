"""Quota counters in Redis, so the last request of a quota passes once whichever process
takes it: a request is checked against its limits and counted in one atomic script.

Keys: `<prefix>:quota:<YYYY-MM-DD>:<user>` (a hash: `r:<model>` requests and `c:<model>`
input characters today; speech under the model `_voice`), expiring a day after its
day's midnight; `<prefix>:tokens:<YYYY-MM>:<user>` (a hash: tokens per plan this
month), expiring a day after the month. The statistics' own counters (saved in the day's
document as before) mirror every value Redis returns, and are the floor a missing field
starts from, so a Redis that lost its data (restarted without appendonly) does not hand
out a second quota for what this process saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.commands.core import AsyncScript

from services.shared.state import SharedState

# KEYS: day hash, month hash. ARGV: model, chars, requests limit, chars limit (-1: none),
# plan ('' none), allowance (-1: none), floors (requests, chars, tokens), day expiry,
# month expiry (unix seconds). Returns {refused ('' passed), requests, chars, tokens}.
_TAKE = """
local r, c = 'r:' .. ARGV[1], 'c:' .. ARGV[1]
local chars, max_r, max_c = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local plan, allowance = ARGV[5], tonumber(ARGV[6])
redis.call('HSETNX', KEYS[1], r, ARGV[7])
redis.call('HSETNX', KEYS[1], c, ARGV[8])
local used_r = tonumber(redis.call('HGET', KEYS[1], r))
local used_c = tonumber(redis.call('HGET', KEYS[1], c))
local tokens = 0
if plan ~= '' then
  redis.call('HSETNX', KEYS[2], plan, ARGV[9])
  tokens = tonumber(redis.call('HGET', KEYS[2], plan))
  redis.call('EXPIREAT', KEYS[2], ARGV[11])
end
redis.call('EXPIREAT', KEYS[1], ARGV[10])
local refused = ''
if allowance >= 0 and tokens >= allowance then refused = 'tokens'
elseif max_r >= 0 and used_r >= max_r then refused = 'requests'
elseif max_c >= 0 and used_c + chars > max_c then refused = 'chars'
else
  used_r = redis.call('HINCRBY', KEYS[1], r, 1)
  used_c = redis.call('HINCRBY', KEYS[1], c, chars)
end
return {refused, used_r, used_c, tokens}
"""

# KEYS: day hash. ARGV: model, requests, chars (negative: given back, never below 0),
# floors (requests, chars), day expiry. Returns {requests, chars}.
_ADD = """
local r, c = 'r:' .. ARGV[1], 'c:' .. ARGV[1]
redis.call('HSETNX', KEYS[1], r, ARGV[4])
redis.call('HSETNX', KEYS[1], c, ARGV[5])
local used_r = math.max(0, tonumber(redis.call('HGET', KEYS[1], r)) + tonumber(ARGV[2]))
local used_c = math.max(0, tonumber(redis.call('HGET', KEYS[1], c)) + tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], r, used_r, c, used_c)
redis.call('EXPIREAT', KEYS[1], ARGV[6])
return {used_r, used_c}
"""

# KEYS: month hash. ARGV: plan, tokens, floor, month expiry. Returns the month's tokens.
_ADD_TOKENS = """
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3])
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return total
"""


@dataclass(slots=True, frozen=True)
class Taken:
    refused: str | None  # "requests", "chars" or "tokens"; None: counted
    requests: int  # today's, with this one when counted
    chars: int
    tokens: int  # the plan's this month (0 without a plan)


@dataclass(slots=True, frozen=True)
class Day:
    """Where a user's counters of one day and month are, and when they expire."""

    day: str  # YYYY-MM-DD
    day_expires: int  # unix seconds
    month_expires: int

    @property
    def month(self) -> str:
        return self.day[:7]


class RedisCounters:
    """The quota counters' shared half; QuotaService keeps the statistics' mirror."""

    def __init__(self, shared: SharedState) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._redis = shared.redis
        self._take: AsyncScript = shared.redis.register_script(_TAKE)
        self._add: AsyncScript = shared.redis.register_script(_ADD)
        self._add_tokens: AsyncScript = shared.redis.register_script(_ADD_TOKENS)

    def _day_key(self, day: Day, user_id: int) -> str:
        return self._shared.key("quota", day.day, user_id)

    def _month_key(self, day: Day, user_id: int) -> str:
        return self._shared.key("tokens", day.month, user_id)

    async def take(
        self,
        user_id: int,
        day: Day,
        model_key: str,
        chars: int,
        *,
        requests_limit: int | None,
        chars_limit: int | None,
        plan: str | None,
        allowance: int | None,
        floor: tuple[int, int, int],
    ) -> Taken:
        """Count a request unless a limit is reached (checked in the same step)."""
        keys = [self._day_key(day, user_id), self._month_key(day, user_id)]
        args: list[str | int] = [model_key, chars, _limit(requests_limit), _limit(chars_limit)]
        args += [plan or "", _limit(allowance), *floor, day.day_expires, day.month_expires]
        raw = await self._shared.link.call(lambda: self._take(keys=keys, args=args))
        refused = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
        return Taken(refused or None, int(raw[1]), int(raw[2]), int(raw[3]))

    async def add(
        self,
        user_id: int,
        day: Day,
        model_key: str,
        requests: int,
        chars: int,
        floor: tuple[int, int],
    ) -> tuple[int, int]:
        """Add (or, negative, give back) requests and characters; today's totals."""
        keys = [self._day_key(day, user_id)]
        args: list[str | int] = [model_key, requests, chars, *floor, day.day_expires]
        raw = await self._shared.link.call(lambda: self._add(keys=keys, args=args))
        return int(raw[0]), int(raw[1])

    async def add_tokens(self, user_id: int, day: Day, plan: str, tokens: int, floor: int) -> int:
        keys = [self._month_key(day, user_id)]
        args: list[str | int] = [plan, tokens, floor, day.month_expires]
        total = await self._shared.link.call(lambda: self._add_tokens(keys=keys, args=args))
        return int(total)

    async def read(
        self, user_id: int, day: Day
    ) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
        """The user's counters today ({model: (requests, chars)}) and this month's tokens
        ({plan: tokens}), as Redis has them."""
        day_key, month_key = self._day_key(day, user_id), self._month_key(day, user_id)

        async def both() -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(day_key)
                pipe.hgetall(month_key)
                used, tokens = await pipe.execute()
            return used, tokens

        used, tokens = await self._shared.link.call(both)
        usage: dict[str, list[int]] = {}
        for field, value in used.items():
            kind, _, model = field.decode().partition(":")
            usage.setdefault(model, [0, 0])[0 if kind == "r" else 1] = int(value)
        return (
            {model: (pair[0], pair[1]) for model, pair in usage.items()},
            {plan.decode(): int(value) for plan, value in tokens.items()},
        )


def _limit(value: int | None) -> int:
    return -1 if value is None else value
