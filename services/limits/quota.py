"""Daily quotas: the free tier's requests and characters, and plans' fair-use caps.

Counted per user, model and day (midnight in TIMEZONE), with the conversation's memory
in the characters, so splitting a question into several messages does not escape the
limit; a referral bonus may add free requests a day. A request is counted when it is
let through, checked and counted in one step (in memory: before any await; with Redis:
one atomic script, services.shared.quota), so two devices or two processes racing for
the last one cannot both pass; it is given back if the model call fails.
Plans may also carry a monthly token allowance, counted after each answer (one answer
in flight may pass it). Users without a plan also have seconds of speech a day
(`[transcription]`'s free_daily_seconds). Admins are exempt.

The statistics hold today's counters (saved in the day's document). With Redis they
count what this process counted (several processes' documents add up), Redis holds the
totals, and a mirror of what Redis last returned is what reads that count nothing (a
check before a download, /profile) use, refreshed (`refresh`) where a handler can wait;
a counter Redis lost starts again from the larger of the two (the floor).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from cachetools import LRUCache

from services.catalog import Catalog, Model, Plan
from services.limits.access import AccessService
from services.operator.stats import FREE, StatsService
from services.shared.link import SharedStateUnavailableError
from services.shared.quota import Day, RedisCounters

logger = logging.getLogger(__name__)

RETRY_EVERY = 5.0  # seconds between tries of a count Redis could not take (after an answer)
RETRY_FOR = 600.0  # ...for at most this long
MIRRORED = 200_000  # counters of Redis mirrored in memory, at most

# Which limits apply: the free tier's, a plan's daily cap, a plan's monthly tokens, none.
LimitKind = Literal["free", "fair_use", "plan", "none"]
Exhausted = Literal["requests", "chars", "tokens"]  # what ran out
# The statistics' key for speech (no model has it): today's seconds heard, and what
# transcriptions cost.
VOICE_KEY = "_voice"


@dataclass(slots=True, frozen=True)
class Limits:
    """A user's limits with one model today; None: unlimited."""

    requests: int | None
    chars: int | None
    kind: LimitKind


@dataclass(slots=True, frozen=True)
class Left:
    model: Model
    limits: Limits
    requests: int | None  # left today
    chars: int | None


@dataclass(slots=True, frozen=True)
class MonthLeft:
    plan: Plan
    tokens: int  # left this month of plan.monthly_tokens


class QuotaExceededError(Exception):
    """`what` ran out ("requests", "chars" or "tokens") under `limits`; resets at
    `resets_at`."""

    def __init__(self, what: Exhausted, limits: Limits, limit: int, resets_at: float) -> None:
        super().__init__(f"{limits.kind} {what}")
        self.what = what
        self.limits = limits
        self.limit = limit
        self.resets_at = resets_at


class QuotaService:
    def __init__(
        self,
        catalog: Catalog,
        access: AccessService,
        stats: StatsService,
        zone: ZoneInfo,
        exempt: frozenset[int] = frozenset(),
        extra_requests: Callable[[int], int] = lambda _user_id: 0,
        shared: RedisCounters | None = None,
    ) -> None:
        self._catalog = catalog
        self._shared = shared  # None: the counters are the statistics' own (one process)
        self._retries: set[asyncio.Task[None]] = set()
        # With Redis: what it last returned, (day, user, key) -> (requests, characters)
        # and (month, user, plan) -> tokens.
        self._used: LRUCache[tuple[str, int, str], tuple[int, int]] = LRUCache(MIRRORED)
        self._month: LRUCache[tuple[str, int, str], int] = LRUCache(MIRRORED)
        self._extra_requests = extra_requests  # a user's bonus free requests a day
        self._access = access
        self._stats = stats
        self._zone = zone
        self._exempt = exempt

    def limits(self, user_id: int, model: Model) -> Limits:
        if user_id in self._exempt:
            return Limits(None, None, "none")
        plans = self._access.active_plans(user_id)
        if model.free and not plans:
            if model.free_daily_requests is None and model.free_daily_chars is None:
                return Limits(None, None, "none")
            requests = model.free_daily_requests
            if requests is not None:
                requests += self._extra_requests(user_id)
            return Limits(requests, model.free_daily_chars, "free")
        caps = [plan.daily_requests_per_model for plan in plans if model.key in plan.models]
        if caps and all(cap is not None for cap in caps):
            return Limits(max(cap for cap in caps if cap is not None), None, "fair_use")
        return Limits(None, None, "none")

    def held_to_free(self, user_id: int) -> bool:
        """A user without a plan (admins aside): the free tier's bounds apply."""
        return user_id not in self._exempt and not self._access.active_plans(user_id)

    def plan_of(self, user_id: int) -> str:
        """The plan a cost of no one model (a transcription) is billed to: the user's first
        active plan, FREE without one."""
        plans = self._access.active_plans(user_id)
        return plans[0].id if plans else FREE

    def bill_to(self, user_id: int, model: Model) -> str:
        """The plan an answer of `model` is given under (FREE without one): a plan without
        a monthly allowance first, else the one with the most tokens left."""
        plans = [p for p in self._access.active_plans(user_id) if model.key in p.models]
        if not plans:
            return FREE
        return max(plans, key=lambda plan: self._tokens_left(user_id, plan)).id

    def _tokens_left(self, user_id: int, plan: Plan) -> float:
        if plan.monthly_tokens is None:
            return float("inf")
        return plan.monthly_tokens - self.tokens_this_month(user_id, plan.id)

    def used_today(self, user_id: int, key: str) -> tuple[int, int]:
        """(requests, characters) of the user with the model (or speech) today, as far as
        this process knows."""
        counted = self._stats.used_today(user_id, key)
        mirrored = self._used.get((self._stats.today().isoformat(), user_id, key))
        return counted if mirrored is None else max(counted, mirrored)

    def tokens_this_month(self, user_id: int, plan: str) -> int:
        counted = self._stats.tokens_this_month(user_id, plan)
        mirrored = self._month.get((self._stats.today().isoformat()[:7], user_id, plan))
        return counted if mirrored is None else max(counted, mirrored)

    def _mirror(self, user_id: int, key: str, used: tuple[int, int]) -> None:
        self._used[(self._stats.today().isoformat(), user_id, key)] = used

    def _mirror_tokens(self, user_id: int, plan: str, tokens: int) -> None:
        self._month[(self._stats.today().isoformat()[:7], user_id, plan)] = tokens

    async def take(self, user_id: int, model: Model, chars: int) -> str:
        """Count a request of `chars` input characters and return the plan it is billed to,
        or raise QuotaExceededError (SharedStateUnavailableError: Redis does not answer,
        nothing counted)."""
        if self._shared is None:
            bill_to = self.check(user_id, model, chars)
            self._stats.count_request(user_id, model.key, chars)  # no await since the check
            return bill_to
        try:
            bill_to = self.check(user_id, model, chars)
        except QuotaExceededError:  # perhaps a stale view: look at Redis before refusing
            await self.refresh(user_id)
            bill_to = self.check(user_id, model, chars)
        refused = await self._take_shared(user_id, model, chars, bill_to)
        if refused is not None and refused.what == "tokens":  # the plan chosen ran out
            await self.refresh(user_id)  # on another process: choose again, knowing it
            bill_to = self.check(user_id, model, chars)
            refused = await self._take_shared(user_id, model, chars, bill_to)
        if refused is not None:
            raise refused
        return bill_to

    async def _take_shared(
        self, user_id: int, model: Model, chars: int, bill_to: str
    ) -> QuotaExceededError | None:
        """The request checked against the limits and counted in one step in Redis (what
        every process counted); the refusal, or None when counted."""
        assert self._shared is not None
        plan = self._catalog.plans_by_id.get(bill_to)
        allowance = plan.monthly_tokens if plan and user_id not in self._exempt else None
        limits = self.limits(user_id, model)
        used = self.used_today(user_id, model.key)
        tokens = self.tokens_this_month(user_id, bill_to) if plan else 0
        taken = await self._shared.take(
            user_id,
            self._day(),
            model.key,
            chars,
            requests_limit=limits.requests,
            chars_limit=limits.chars,
            plan=plan.id if plan else None,
            allowance=allowance,
            floor=(*used, tokens),
        )
        self._mirror(user_id, model.key, (taken.requests, taken.chars))
        if plan:
            self._mirror_tokens(user_id, plan.id, taken.tokens)
        if taken.refused is None:
            self._stats.count_request(user_id, model.key, chars)  # this process's part
            return None
        if taken.refused == "tokens" and allowance is not None:
            return QuotaExceededError(
                "tokens", Limits(None, None, "plan"), allowance, self.month_resets_at()
            )
        if taken.refused == "requests" and limits.requests is not None:
            return QuotaExceededError("requests", limits, limits.requests, self.resets_at())
        assert limits.chars is not None
        return QuotaExceededError("chars", limits, limits.chars, self.resets_at())

    async def refresh(self, user_id: int) -> None:
        """Bring the user's counters in from Redis (what other processes counted), so the
        checks that count nothing see them; nothing to do in one process. Redis not
        answering leaves them as they were (the counting step itself refuses then)."""
        if self._shared is None:
            return
        try:
            usage, tokens = await self._shared.read(user_id, self._day())
        except SharedStateUnavailableError:
            return
        for model_key, used in usage.items():
            self._mirror(user_id, model_key, used)
        for plan, count in tokens.items():
            self._mirror_tokens(user_id, plan, count)

    def _day(self) -> Day:
        """Today's and this month's counters in Redis, kept a day past their end."""
        return Day(
            self._stats.today().isoformat(),
            int(self.resets_at()) + 86_400,
            int(self.month_resets_at()) + 86_400,
        )

    def check(self, user_id: int, model: Model, chars: int = 0) -> str:
        """The plan a request of `chars` characters would be billed to, counting nothing
        (e.g. before paying for a voice message's transcription); QuotaExceededError if it
        would be refused."""
        bill_to = self.bill_to(user_id, model)
        plan = self._catalog.plans_by_id.get(bill_to)
        allowance = plan.monthly_tokens if plan and user_id not in self._exempt else None
        if plan and allowance is not None and self._tokens_left(user_id, plan) <= 0:
            limits = Limits(None, None, "plan")
            raise QuotaExceededError("tokens", limits, allowance, self.month_resets_at())
        limits = self.limits(user_id, model)
        if limits.kind != "none":
            requests, used_chars = self.used_today(user_id, model.key)
            if limits.requests is not None and requests >= limits.requests:
                raise QuotaExceededError("requests", limits, limits.requests, self.resets_at())
            if limits.chars is not None and used_chars + chars > limits.chars:
                raise QuotaExceededError("chars", limits, limits.chars, self.resets_at())
        return bill_to

    async def give_back(self, user_id: int, model: Model, chars: int) -> None:
        """The model call failed: the request does not count."""
        await self._add(user_id, model.key, -1, -chars)

    async def count_tokens(self, user_id: int, plan: str, tokens: int) -> None:
        """An answer's tokens, against `plan`'s monthly allowance (FREE has none)."""
        floor = self.tokens_this_month(user_id, plan)
        self._stats.add_tokens(user_id, plan, tokens)
        if self._shared is None or plan == FREE or not tokens:
            return
        shared, day = self._shared, self._day()

        async def add() -> None:
            total = await shared.add_tokens(user_id, day, plan, tokens, floor)
            self._mirror_tokens(user_id, plan, total)

        await self._until_counted(add, f"{tokens} tokens of user {user_id}")

    async def _add(self, user_id: int, key: str, requests: int, chars: int) -> None:
        floor = self.used_today(user_id, key)
        sign = 1 if requests >= 0 else -1
        self._stats.count_request(user_id, key, abs(chars), sign=sign)  # this process's part
        if self._shared is None:
            return
        shared, day = self._shared, self._day()

        async def add() -> None:
            totals = await shared.add(user_id, day, key, requests, chars, floor)
            self._mirror(user_id, key, totals)

        await self._until_counted(add, f"{requests:+} request(s) of user {user_id} ({key})")

    async def _until_counted(self, count: Callable[[], Awaitable[None]], what: str) -> None:
        """Count now; while Redis does not answer, keep trying in the background for a
        while (what happened happened: an answer given, a request failed)."""
        try:
            await count()
        except SharedStateUnavailableError:
            task = asyncio.get_running_loop().create_task(self._retry(count, what))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _retry(self, count: Callable[[], Awaitable[None]], what: str) -> None:
        for _ in range(int(RETRY_FOR / RETRY_EVERY)):
            await asyncio.sleep(RETRY_EVERY)
            try:
                await count()
            except SharedStateUnavailableError:
                continue
            return
        logger.warning("Could not count %s: Redis did not answer for %.0f s", what, RETRY_FOR)

    def speech_left_today(self, user_id: int) -> tuple[int, int] | None:
        """(seconds of speech left today, the day's free seconds) for a user held to the
        free tier; None when speech has no daily bound for them."""
        config = self._catalog.transcription
        daily = config.free_daily_seconds if config is not None else None
        if daily is None or not self.held_to_free(user_id):
            return None
        _, used = self.used_today(user_id, VOICE_KEY)
        return max(0, daily - used), daily

    async def count_speech(self, user_id: int, seconds: int) -> None:
        """Seconds of speech heard today (a transcription paid for)."""
        await self._add(user_id, VOICE_KEY, 1, seconds)

    def left_today(self, user_id: int, models: list[Model]) -> list[Left]:
        """What is left today with each model that has a limit for the user."""
        result = []
        for model in models:
            limits = self.limits(user_id, model)
            if limits.kind == "none":
                continue
            requests, chars = self.used_today(user_id, model.key)
            result.append(
                Left(
                    model,
                    limits,
                    None if limits.requests is None else max(0, limits.requests - requests),
                    None if limits.chars is None else max(0, limits.chars - chars),
                )
            )
        return result

    def left_this_month(self, user_id: int) -> list[MonthLeft]:
        """Tokens left this month under each of the user's plans with an allowance."""
        if user_id in self._exempt:
            return []
        return [
            MonthLeft(plan, max(0, int(self._tokens_left(user_id, plan))))
            for plan in self._access.active_plans(user_id)
            if plan.monthly_tokens is not None
        ]

    def month_resets_at(self) -> float:
        """The first midnight of next month in the bot's time zone."""
        today = self._stats.now().astimezone(self._zone).date()
        first = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return dt.datetime.combine(first, dt.time(), self._zone).timestamp()

    def resets_at(self) -> float:
        """The next midnight in the bot's time zone."""
        now = self._stats.now().astimezone(self._zone)  # the clock the day is counted by
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), self._zone)
        return midnight.timestamp()
