"""Daily quotas: the free tier's requests and characters, and plans' fair-use caps.

Counted per user, model and day (midnight in TIMEZONE), with the conversation's memory
in the characters, so splitting a question into several messages does not escape the
limit; a referral bonus may add free requests a day. A request is counted when it is
let through (before any await: two devices racing for the last one cannot both pass)
and given back if the model call fails.
Plans may also carry a monthly token allowance, counted after each answer (one answer
in flight may pass it). Users without a plan also have seconds of speech a day
(`[transcription]`'s free_daily_seconds). Admins are exempt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from services.catalog import Catalog, Model, Plan
from services.limits.access import AccessService
from services.operator.stats import FREE, StatsService

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
    ) -> None:
        self._catalog = catalog
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
        return plan.monthly_tokens - self._stats.tokens_this_month(user_id, plan.id)

    def take(self, user_id: int, model: Model, chars: int) -> str:
        """Count a request of `chars` input characters and return the plan it is billed to,
        or raise QuotaExceededError."""
        bill_to = self.check(user_id, model, chars)
        self._stats.count_request(user_id, model.key, chars)
        return bill_to

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
            requests, used_chars = self._stats.used_today(user_id, model.key)
            if limits.requests is not None and requests >= limits.requests:
                raise QuotaExceededError("requests", limits, limits.requests, self.resets_at())
            if limits.chars is not None and used_chars + chars > limits.chars:
                raise QuotaExceededError("chars", limits, limits.chars, self.resets_at())
        return bill_to

    def give_back(self, user_id: int, model: Model, chars: int) -> None:
        """The model call failed: the request does not count."""
        self._stats.count_request(user_id, model.key, chars, sign=-1)

    def speech_left_today(self, user_id: int) -> tuple[int, int] | None:
        """(seconds of speech left today, the day's free seconds) for a user held to the
        free tier; None when speech has no daily bound for them."""
        config = self._catalog.transcription
        daily = config.free_daily_seconds if config is not None else None
        if daily is None or not self.held_to_free(user_id):
            return None
        _, used = self._stats.used_today(user_id, VOICE_KEY)
        return max(0, daily - used), daily

    def count_speech(self, user_id: int, seconds: int) -> None:
        """Seconds of speech heard today (a transcription paid for)."""
        self._stats.count_request(user_id, VOICE_KEY, seconds)

    def left_today(self, user_id: int, models: list[Model]) -> list[Left]:
        """What is left today with each model that has a limit for the user."""
        result = []
        for model in models:
            limits = self.limits(user_id, model)
            if limits.kind == "none":
                continue
            requests, chars = self._stats.used_today(user_id, model.key)
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
