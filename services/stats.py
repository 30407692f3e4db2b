"""Usage statistics per day: new and active users, messages and tokens per model, refusals.

Counters live in memory and are written to `stats/<date>.json` every FLUSH_INTERVAL
seconds and at shutdown: statistics are not money, so a kill -9 may lose the last
few seconds of counts, never a file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from services.catalog import Model
from services.models import Usage
from services.storage.atomic import FileWriter, read_json

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 30.0
KEEP_DAYS = 40


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

    def to_json(self) -> dict[str, Any]:
        return {
            "new_users": self.new_users,
            "active": sorted(self.active),
            "messages": self.messages,
            "failures": self.failures,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "free_limit_refusals": self.free_limit_refusals,
            "user_messages": {str(user): count for user, count in self.user_messages.items()},
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
        )


@dataclass(slots=True, frozen=True)
class ModelUsage:
    model: str
    messages: int
    failures: int
    prompt_tokens: int
    completion_tokens: int


class StatsService:
    def __init__(self, data_dir: Path, zone: ZoneInfo) -> None:
        self._folder = data_dir / "stats"
        self._zone = zone
        self._days: dict[str, DayStats] = {}
        self._dirty: set[str] = set()
        self._writer = FileWriter()

    async def load(self) -> None:
        await asyncio.to_thread(self._folder.mkdir, parents=True, exist_ok=True)
        today = self.today()
        for offset in range(KEEP_DAYS):
            day = (today - dt.timedelta(days=offset)).isoformat()
            raw = await asyncio.to_thread(read_json, self._folder / f"{day}.json")
            if raw is not None:
                self._days[day] = DayStats.from_json(raw)

    def today(self) -> dt.date:
        return dt.datetime.now(self._zone).date()

    def _day(self, day: dt.date | None = None) -> DayStats:
        key = (day or self.today()).isoformat()
        self._dirty.add(key)
        stats = self._days.get(key)
        if stats is None:
            stats = self._days[key] = DayStats()
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

    # Reading -------------------------------------------------------------------------
    def day(self, day: dt.date) -> DayStats:
        return self._days.get(day.isoformat()) or DayStats()

    def last_days(self, count: int) -> list[tuple[dt.date, DayStats]]:
        today = self.today()
        days = [today - dt.timedelta(days=offset) for offset in range(count - 1, -1, -1)]
        return [(day, self.day(day)) for day in days]

    def active_users(self, days: int) -> int:
        active: set[int] = set()
        for _, stats in self.last_days(days):
            active |= stats.active
        return len(active)

    def model_usage(self, days: int) -> list[ModelUsage]:
        totals: dict[str, list[int]] = {}
        for _, stats in self.last_days(days):
            keys = set(stats.messages) | set(stats.failures)
            for key in keys:
                row = totals.setdefault(key, [0, 0, 0, 0])
                row[0] += stats.messages.get(key, 0)
                row[1] += stats.failures.get(key, 0)
                row[2] += stats.prompt_tokens.get(key, 0)
                row[3] += stats.completion_tokens.get(key, 0)
        rows = [ModelUsage(key, *values) for key, values in totals.items()]
        return sorted(rows, key=lambda row: row.messages, reverse=True)

    def user_message_count(self, user_id: int, days: int) -> int:
        return sum(stats.user_messages.get(user_id, 0) for _, stats in self.last_days(days))

    def free_limit_refusals(self, days: int) -> int:
        return sum(stats.free_limit_refusals for _, stats in self.last_days(days))

    # Persistence -----------------------------------------------------------------------
    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            await self._writer.save(
                self._folder / f"{key}.json", self._days[key].to_json, durable=False
            )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except OSError:
                logger.exception("Could not write statistics")
