"""Usage statistics per day: new and active users, messages and tokens per model, refusals.

Today's counters live in memory and are saved through the storage (`Storage.save_stats`:
a document per day, and one per month for plans' tokens) every FLUSH_INTERVAL seconds and
at shutdown: statistics are not money, so a kill -9 may lose the last few seconds of
counts, never a day. On a store several processes share, each adds what it counted since
its last save to the stored document (`Storage.update_stats`), and reports read the
others' counts too. Earlier days are read when an admin asks; a damaged one is set
aside, not fatal.

A day (or a month of plan tokens) is continued from what was saved whenever counting
comes to it: at start-up, and when the clock steps back over midnight or onto a day
written before. A past day is never begun empty over its saved counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from services.catalog import Model
from services.models import Usage
from services.storage.base import DamagedRecordError, Storage

logger = logging.getLogger(__name__)
K = TypeVar("K")

FLUSH_INTERVAL = 30.0
FREE = "free"  # what answers of free models without a plan are billed to


@dataclass(slots=True)
class DayStats:
    new_users: int = 0
    active: set[int] = field(default_factory=set)
    messages: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    prompt_tokens: dict[str, int] = field(default_factory=dict)
    completion_tokens: dict[str, int] = field(default_factory=dict)
    free_limit_refusals: int = 0
    user_messages: dict[int, int] = field(default_factory=dict)
    # "user:model" -> [requests, input characters]: what daily quotas count
    usage: dict[str, list[int]] = field(default_factory=dict)
    # "user:model" -> the providers' cost of the answers, RUB
    costs: dict[str, float] = field(default_factory=dict)
    # plan id (or FREE) -> the cost of answers given under it, RUB
    plan_costs: dict[str, float] = field(default_factory=dict)
    unpriced: int = 0  # answers of models without a price: their cost is unknown

    def to_json(self) -> dict[str, Any]:
        return {
            "new_users": self.new_users,
            "active": sorted(self.active),
            # Copies: the writer reads this in its thread while the loop goes on counting.
            "messages": dict(self.messages),
            "failures": dict(self.failures),
            "prompt_tokens": dict(self.prompt_tokens),
            "completion_tokens": dict(self.completion_tokens),
            "free_limit_refusals": self.free_limit_refusals,
            "user_messages": {str(user): count for user, count in self.user_messages.items()},
            "usage": {key: list(value) for key, value in self.usage.items()},
            "costs": dict(self.costs),
            "plan_costs": dict(self.plan_costs),
            "unpriced": self.unpriced,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DayStats:
        return cls(
            new_users=raw.get("new_users", 0),
            active=set(raw.get("active", [])),
            messages=dict(raw.get("messages", {})),
            failures=dict(raw.get("failures", {})),
            prompt_tokens=dict(raw.get("prompt_tokens", {})),
            completion_tokens=dict(raw.get("completion_tokens", {})),
            free_limit_refusals=raw.get("free_limit_refusals", 0),
            user_messages={int(k): v for k, v in raw.get("user_messages", {}).items()},
            usage={key: list(value) for key, value in raw.get("usage", {}).items()},
            costs=dict(raw.get("costs", {})),
            plan_costs=dict(raw.get("plan_costs", {})),
            unpriced=raw.get("unpriced", 0),
        )

    def plus(self, other: DayStats) -> DayStats:
        return _combined(self, other, 1)

    def minus(self, other: DayStats) -> DayStats:
        """What was counted here since `other` (an earlier copy of these counters)."""
        return _combined(self, other, -1)

    @property
    def cost(self) -> float:
        return sum(self.costs.values())

    def cost_of(self, user_id: int) -> float:
        prefix = f"{user_id}:"
        return sum(value for key, value in self.costs.items() if key.startswith(prefix))

    def cost_by_model(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, value in self.costs.items():
            model = key.partition(":")[2]
            totals[model] = totals.get(model, 0.0) + value
        return totals


N = TypeVar("N", int, float)


def _summed(first: dict[K, N], second: dict[K, N], sign: int) -> dict[K, N]:
    total = dict(first)
    for key, value in second.items():
        total[key] = total.get(key, 0) + sign * value
    return total


def _combined(a: DayStats, b: DayStats, sign: int) -> DayStats:
    usage = {key: list(value) for key, value in a.usage.items()}
    for key, (requests, chars) in b.usage.items():
        used = usage.setdefault(key, [0, 0])
        used[0] += sign * requests
        used[1] += sign * chars
    return DayStats(
        new_users=a.new_users + sign * b.new_users,
        active=a.active | b.active if sign > 0 else a.active - b.active,
        messages=_summed(a.messages, b.messages, sign),
        failures=_summed(a.failures, b.failures, sign),
        prompt_tokens=_summed(a.prompt_tokens, b.prompt_tokens, sign),
        completion_tokens=_summed(a.completion_tokens, b.completion_tokens, sign),
        free_limit_refusals=a.free_limit_refusals + sign * b.free_limit_refusals,
        user_messages=_summed(a.user_messages, b.user_messages, sign),
        usage=usage,
        costs=_summed(a.costs, b.costs, sign),
        plan_costs=_summed(a.plan_costs, b.plan_costs, sign),
        unpriced=a.unpriced + sign * b.unpriced,
    )


@dataclass(slots=True, frozen=True)
class ModelUsage:
    model: str
    messages: int
    failures: int
    prompt_tokens: int
    completion_tokens: int


class StatsService:
    """Today's counters in memory; earlier days are read from the storage on demand."""

    def __init__(
        self, storage: Storage, zone: ZoneInfo, clock: Callable[[], float] = time.time
    ) -> None:
        self._storage = storage
        self._zone = zone
        self._clock = clock  # wall-clock seconds (tests step it)
        self._days: dict[str, DayStats] = {}  # today, and a past day until it is flushed
        self._dirty: set[str] = set()
        # Tokens per "user:plan" (plans' monthly allowances) by "YYYY-MM", saved as
        # "month-<YYYY-MM>": this month, and a past one until it is flushed.
        self._months: dict[str, dict[str, int]] = {}
        self._months_dirty: set[str] = set()
        self._notices: set[asyncio.Task[None]] = set()
        self._unreadable: set[str] = set()  # documents whose read failed (logged once)
        # A shared store: each document as stored when this process last read or wrote
        # it; what was counted since is added to the stored one (`Storage.update_stats`).
        self._bases: dict[str, dict[str, Any] | None] = {}
        # Told when a damaged statistics file is moved aside (admins get an alert).
        self.problem_listeners: list[Callable[[str], Awaitable[object]]] = []

    async def load(self) -> None:
        key = self.today().isoformat()
        raw = await self._read(key)
        self._days[key] = DayStats.from_json(raw) if raw is not None else DayStats()
        self._bases[key] = raw
        raw = await self._read(_month_name(key[:7]))
        self._months[key[:7]] = _month_tokens(raw)
        self._bases[_month_name(key[:7])] = raw

    async def _read(self, name: str) -> dict[str, Any] | None:
        """A statistics document, or None when absent; a damaged one is set aside."""
        try:
            return await self._storage.load_stats(name)
        except DamagedRecordError as error:
            await self._tell_damaged(error)
            return None

    def _read_now(self, name: str) -> dict[str, Any] | None:
        """`_read` on the event loop, for a day or month counting comes to: rare (a new
        day has none, which costs one failed open). OSError when it cannot be read."""
        try:
            return self._storage.load_stats_now(name)
        except OSError:
            if name not in self._unreadable:  # logged once, not at every count
                self._unreadable.add(name)
                logger.exception("Could not read statistics %s; not counted until it can be", name)
            raise
        except DamagedRecordError as error:
            notice = asyncio.get_running_loop().create_task(self._tell_damaged(error))
            self._notices.add(notice)
            notice.add_done_callback(self._notices.discard)
            return None

    async def _tell_damaged(self, error: DamagedRecordError) -> None:
        for listener in self.problem_listeners:
            with contextlib.suppress(Exception):
                await listener(
                    f"Damaged statistics file {error.what} ({error.reason}) moved to "
                    f"{error.moved_to}; it starts from zero"
                )

    async def _read_day(self, key: str) -> DayStats | None:
        raw = await self._read(key)
        return DayStats.from_json(raw) if raw is not None else None

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), self._zone)

    def today(self) -> dt.date:
        return self.now().date()

    def _current(self, key: str) -> DayStats:
        """The day's counters; a day not in memory is continued from its file if it has
        one (the clock stepped back over midnight, or onto a day written before), so its
        file is never rewritten from an empty day. While the file cannot be read, counts
        go to a day that is not kept."""
        stats = self._days.get(key)
        if stats is None:  # a new day: the old one is written and dropped at the next flush
            try:
                raw = self._read_now(key)
            except OSError:
                return DayStats()
            stats = self._days[key] = DayStats.from_json(raw) if raw is not None else DayStats()
            self._bases[key] = raw
        return stats

    def _day(self) -> DayStats:
        """Today's counters, about to change."""
        key = self.today().isoformat()
        stats = self._current(key)
        if key in self._days:
            self._dirty.add(key)
        return stats

    # Recording (cheap, in memory) ----------------------------------------------------
    def user_seen(self, user_id: int, *, is_new: bool) -> None:
        stats = self._day()
        stats.active.add(user_id)
        if is_new:
            stats.new_users += 1

    def answer(self, user_id: int, model: Model, usage: Usage | None, ok: bool) -> None:
        stats = self._day()
        counter = stats.messages if ok else stats.failures
        counter[model.key] = counter.get(model.key, 0) + 1
        if ok:
            stats.user_messages[user_id] = stats.user_messages.get(user_id, 0) + 1
        if usage is not None:
            stats.prompt_tokens[model.key] = (
                stats.prompt_tokens.get(model.key, 0) + usage.prompt_tokens
            )
            stats.completion_tokens[model.key] = (
                stats.completion_tokens.get(model.key, 0) + usage.completion_tokens
            )

    def free_limit_refusal(self) -> None:
        self._day().free_limit_refusals += 1

    # Quota counters (today's, in memory; saved with the day) ---------------------------
    def used_today(self, user_id: int, model_key: str) -> tuple[int, int]:
        """(requests, input characters) of the user with the model today."""
        used = self._current(self.today().isoformat()).usage.get(f"{user_id}:{model_key}")
        return (used[0], used[1]) if used else (0, 0)

    def spend(
        self,
        user_id: int,
        model_key: str,
        rub: float | None,
        *,
        plan: str = FREE,
        tokens: int = 0,
    ) -> None:
        """An answer's cost to the provider (None: the model has no price), billed to
        `plan`, and its tokens counted against the plan's monthly allowance."""
        stats = self._day()
        if tokens:
            self.add_tokens(user_id, plan, tokens)
        if rub is None:
            stats.unpriced += 1
            return
        key = f"{user_id}:{model_key}"
        stats.costs[key] = stats.costs.get(key, 0.0) + rub
        stats.plan_costs[plan] = stats.plan_costs.get(plan, 0.0) + rub

    def _tokens_of(self, month: str) -> dict[str, int]:
        """The month's tokens: a new month starts from zero, or from its file (as a day)."""
        tokens = self._months.get(month)
        if tokens is None:
            try:
                raw = self._read_now(_month_name(month))
            except OSError:
                return {}
            tokens = self._months[month] = _month_tokens(raw)
            self._bases[_month_name(month)] = raw
        return tokens

    def tokens_this_month(self, user_id: int, plan_id: str) -> int:
        return self._tokens_of(self.today().isoformat()[:7]).get(f"{user_id}:{plan_id}", 0)

    def add_tokens(self, user_id: int, plan: str, tokens: int) -> None:
        """Tokens of an answer billed to `plan`, against its monthly allowance (the free
        tier has none)."""
        if plan == FREE or not tokens:
            return
        month = self.today().isoformat()[:7]
        tokens_now = self._tokens_of(month)
        tokens_now[f"{user_id}:{plan}"] = tokens_now.get(f"{user_id}:{plan}", 0) + tokens
        if month in self._months:
            self._months_dirty.add(month)

    def count_request(self, user_id: int, model_key: str, chars: int, sign: int = 1) -> None:
        """Count (or, with sign -1, give back) one request and its input characters."""
        used = self._day().usage.setdefault(f"{user_id}:{model_key}", [0, 0])
        used[0] = max(0, used[0] + sign)
        used[1] = max(0, used[1] + sign * chars)

    # Reading (on demand) -------------------------------------------------------------
    async def last_days(self, count: int) -> list[tuple[dt.date, DayStats]]:
        """The last `count` days, oldest first (days without a file count as zero)."""
        today = self.today()
        days = [today - dt.timedelta(days=offset) for offset in range(count - 1, -1, -1)]
        result = []
        for day in days:
            key = day.isoformat()
            stats = self._days.get(key)
            if stats is not None and self._storage.shared:  # the other processes' counts too
                stored = await self._read_day(key) or DayStats()
                stats = stored.plus(stats.minus(_day_of(self._bases.get(key))))
            stats = stats or await self._read_day(key) or DayStats()
            result.append((day, stats))
        return result

    async def summary(self, days: int = 30) -> StatsSummary:
        window = await self.last_days(days)
        return StatsSummary(
            new_today=window[-1][1].new_users,
            active_7d=len(set().union(*(stats.active for _, stats in window[-7:]))),
            models=model_usage(window),
            refusals=sum(stats.free_limit_refusals for _, stats in window),
            daily_new_users=[(day, stats.new_users) for day, stats in window],
            daily_cost=[(day, stats.cost) for day, stats in window],
            unpriced=sum(stats.unpriced for _, stats in window),
            cost_by_model=_sum_costs(stats.cost_by_model() for _, stats in window),
            cost_by_plan=_sum_costs(stats.plan_costs for _, stats in window),
        )

    async def user_cost_this_month(self, user_id: int) -> float:
        today = self.today()
        window = await self.last_days(today.day)
        return sum(stats.cost_of(user_id) for _, stats in window)

    async def top_spenders(self, count: int = 10) -> list[tuple[int, float]]:
        """The users who cost the most this month, costliest first."""
        totals: dict[int, float] = {}
        for _, stats in await self.last_days(self.today().day):
            for key, value in stats.costs.items():
                user = int(key.partition(":")[0])
                totals[user] = totals.get(user, 0.0) + value
        return sorted(totals.items(), key=lambda item: item[1], reverse=True)[:count]

    async def user_message_count(self, user_id: int, days: int) -> int:
        return sum(stats.user_messages.get(user_id, 0) for _, stats in await self.last_days(days))

    # Persistence -----------------------------------------------------------------------
    async def flush(self) -> None:
        """Write the days and months that changed; past ones leave memory once written
        (a failed write keeps them for the next flush)."""
        dirty, self._dirty = self._dirty, set()
        months, self._months_dirty = self._months_dirty, set()
        try:
            for key in sorted(dirty):
                await self._save_day(key)
            for month in sorted(months):
                await self._save_month(month)
        except BaseException:
            self._dirty |= dirty
            self._months_dirty |= months
            raise
        today = self.today().isoformat()
        for key in [key for key in self._days if key != today and key not in self._dirty]:
            del self._days[key]
            self._bases.pop(key, None)
        for month in [m for m in self._months if m != today[:7] and m not in self._months_dirty]:
            del self._months[month]
            self._bases.pop(_month_name(month), None)

    async def _save_day(self, key: str) -> None:
        if not self._storage.shared:
            await self._storage.save_stats(key, self._days[key].to_json())
            return
        sent = self._days[key].to_json()
        added = DayStats.from_json(sent).minus(_day_of(self._bases.get(key)))
        stored = await self._storage.update_stats(
            key, lambda document: _day_of(document).plus(added).to_json()
        )
        counted_meanwhile = self._days[key].minus(DayStats.from_json(sent))
        self._days[key] = DayStats.from_json(stored).plus(counted_meanwhile)
        self._bases[key] = stored

    async def _save_month(self, month: str) -> None:
        name = _month_name(month)
        if not self._storage.shared:
            await self._storage.save_stats(name, {"tokens": dict(self._months[month])})
            return
        sent = dict(self._months[month])
        added = _summed(sent, _month_tokens(self._bases.get(name)), -1)
        stored = await self._storage.update_stats(
            name, lambda document: {"tokens": _summed(_month_tokens(document), added, 1)}
        )
        counted_meanwhile = _summed(self._months[month], sent, -1)
        self._months[month] = _summed(_month_tokens(stored), counted_meanwhile, 1)
        self._bases[name] = stored

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except OSError:
                logger.exception("Could not write statistics")


@dataclass(slots=True, frozen=True)
class StatsSummary:
    new_today: int
    active_7d: int
    models: list[ModelUsage]
    refusals: int
    daily_new_users: list[tuple[dt.date, int]]
    daily_cost: list[tuple[dt.date, float]]
    unpriced: int  # answers whose cost is unknown (models without a price)
    cost_by_model: dict[str, float]
    cost_by_plan: dict[str, float]  # plan id or FREE


def model_usage(window: list[tuple[dt.date, DayStats]]) -> list[ModelUsage]:
    """Messages, failures and tokens per model over the days, busiest first."""
    totals: dict[str, list[int]] = {}
    for _, stats in window:
        for key in set(stats.messages) | set(stats.failures):
            row = totals.setdefault(key, [0, 0, 0, 0])
            row[0] += stats.messages.get(key, 0)
            row[1] += stats.failures.get(key, 0)
            row[2] += stats.prompt_tokens.get(key, 0)
            row[3] += stats.completion_tokens.get(key, 0)
    rows = [ModelUsage(key, *values) for key, values in totals.items()]
    return sorted(rows, key=lambda row: row.messages, reverse=True)


def _month_name(month: str) -> str:
    """A month's tokens are saved as "month-<YYYY-MM>" beside the days."""
    return f"month-{month}"


def _day_of(raw: dict[str, Any] | None) -> DayStats:
    return DayStats.from_json(raw) if raw else DayStats()


def _month_tokens(raw: dict[str, Any] | None) -> dict[str, int]:
    """A month file's tokens per "user:plan" (none for a month without a file)."""
    return {key: int(value) for key, value in (raw or {}).get("tokens", {}).items()}


def _sum_costs(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for part in parts:
        for key, value in part.items():
            totals[key] = totals.get(key, 0.0) + value
    return totals
