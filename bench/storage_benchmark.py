"""Storage and money layer at two data sizes: start-up, memory, per-operation latency.

    python bench/storage_benchmark.py [--sizes S,L,L60] [--data-root DIR] [--keep]
        [--repeat N | --repeat S=20,L=2] [--ops pay_press,credit,...]
        [--project-root DIR] [--against DIR] [--no-bot] [--output FILE]
        [--compare FILE] [--active-share F] [--seed N] [--generate-only]

1. Data. `generate_dataset()` writes a DATA_DIR in the on-disk format of commit
   cc0143a (users/<id>.json, history/<id>.json for 10% of users, subscriptions.json,
   payments.json, promo_codes.json, stats/<date>.json for the last 40 days) for a bot
   that has run about a year: payments spread over 365 days, 50/30/20% YooMoney/Stars/
   SBP, pending only if created in the last 24 hours, otherwise about 35% paid, 1%
   refunded, 2% rejected, the rest expired; one subscription per (user, plan) with
   1-3 back-to-back periods, about `--active-share` of them still running, each
   period paid by a paid payment (85%), a promo code (10%) or an admin (5%).
   L60 is L with 60% of the subscriptions still running (a bot with many subscribers:
   60k live subscriptions instead of 8k); its own `active_share` overrides the option.
   Data sets are cached under `--data-root` (keyed by size, FORMAT_VERSION, active
   share and seed; regenerated after CACHE_MAX_AGE) and every run gets a fresh copy,
   because the code under test may convert files on its first start.

2. Measurement. Each data set is measured in fresh subprocesses that import the
   project (from `--project-root`, put first on sys.path) but not Telegram:
   - first start on the fresh copy; if it changed files it is reported as "upgrade";
   - a second start in a new process: "start-up" is the wall time of the services'
     start (the adapters below), then idle RSS (VmRSS after gc.collect() and a
     short sleep), then each operation N times (median latency, and the longest
     event-loop block seen while it ran: a task sleeping 1 ms records its lateness);
   - a bare start on an empty DATA_DIR, for RSS L - empty;
   - the real `python bot.py` (bench/bot_start.py: against the Bot API emulator and the
     OpenAI stand-in of tests/stubs) on the converted copy and on an empty DATA_DIR:
     wall time from spawn to its first getUpdates, and its idle RSS (unless --no-bot).
   With `--against DIR` a second checkout (e.g. `git worktree add /tmp/old HEAD~1`) is
   measured in the same run on fresh copies of the same data sets, each data set by
   both in turn, so that old and new are compared side by side.

3. Report. A table of every metric per size and each size over S (and the
   `--against` checkout, and a saved baseline, if any, to compare), PASS/FAIL for the
   targets (TARGET_* below), and the results as JSON in `--output` (default
   bench/storage_results.json, git-ignored).

The services' API is being rewritten: the adapters right below (START, OPERATIONS)
are the only place to edit when a call changes name or becomes (a)sync.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import gc
import importlib
import inspect
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

# ---------------------------------------------------------------------------------------
# Adapters: the only code that calls the project. Edit these when its API changes.
# ---------------------------------------------------------------------------------------

# Imported before the clock starts, so that import time is not counted as start-up.
PROJECT_MODULES = ("config", "services.catalog", "services.container", "services.models")
ADMIN_ID = 1  # who creates promo codes and grants plans in the operations below


def project(module: str) -> Any:
    """A module of the code under test; untyped on purpose, as its API is in flux."""
    return importlib.import_module(module)


def load_config() -> tuple[Any, Any]:
    """Settings (from the worker's environment only) and the catalog, as bot.py does."""
    settings = project("config").load_settings(_env_file=None)
    return settings, project("services.catalog").load_catalog(settings.catalog_path)


async def start_services(settings: Any, catalog: Any) -> Any:
    """What the bot does with its data before polling; this is the timed start-up."""
    return await project("services.container").create_services(settings, catalog)


async def stop_services(services: Any) -> None:
    await services.close()


async def new_invoice(bench: Bench) -> Any:
    """A pending YooMoney payment (`open_invoice` since e8ed561, `create` before), for a
    user who has none open, so that no earlier invoice is shown again instead."""
    payments = bench.services.payments
    press = getattr(payments, "open_invoice", None) or payments.create
    return await maybe_await(press(bench.fresh_user(), bench.random_plan(), "yoomoney"))


async def op_pay_press(bench: Bench) -> None:
    """The user presses "pay" for a plan: a pending YooMoney payment is created."""
    async with bench.timed():
        payment = await new_invoice(bench)
    bench.pending.append(payment)  # "credit" pays these


async def op_credit(bench: Bench) -> None:
    """Money arrived for a pending payment (one made by "pay press" when there is one)."""
    payment = bench.pending.pop() if bench.pending else await new_invoice(bench)
    async with bench.timed():
        await maybe_await(
            bench.services.payments.credit(
                payment.id,
                received_amount=round(payment.amount * 0.97, 2),
                operation_id=bench.token(18),
            )
        )


async def op_grant(bench: Bench) -> None:
    """An admin grants a plan for 30 days."""
    user_id, plan_id = bench.random_user(), bench.random_plan()
    source = f"admin:{ADMIN_ID}:{time.time()}"
    async with bench.timed():
        await maybe_await(bench.services.subscriptions.grant(user_id, plan_id, 30, source))


async def op_promo_activation(bench: Bench) -> None:
    """A user activates an unlimited promo code created (untimed) on the first call."""
    code = bench.state.get("promo_code")
    if code is None:
        code = bench.state["promo_code"] = f"BENCH{bench.token(8).upper()}"
        await maybe_await(
            bench.services.promo.create(
                code, bench.random_plan(), 30, created_by=ADMIN_ID, max_uses=None
            )
        )
    user_id = bench.fresh_user()
    async with bench.timed():
        await maybe_await(bench.services.promo.activate(user_id, code))


async def op_user_save(bench: Bench) -> None:
    """A user picks another model (their record is read untimed first)."""
    user = await maybe_await(bench.services.users.get(bench.random_user()))
    async with bench.timed():
        await maybe_await(bench.services.users.set_model(user, bench.random_model()))


async def op_history_save(bench: Bench) -> None:
    """A conversation of 6 turns is saved after an answer."""
    chat_turn = project("services.models").ChatTurn
    user_id = bench.random_user()
    turns = [chat_turn(role=role, content=text) for role, text in bench.conversation()]
    async with bench.timed():
        await maybe_await(bench.services.storage.save_history(user_id, "1", turns))


OPERATIONS: dict[str, Callable[[Bench], Awaitable[None]]] = {
    "pay_press": op_pay_press,
    "credit": op_credit,
    "grant": op_grant,
    "promo_activation": op_promo_activation,
    "user_save": op_user_save,
    "history_save": op_history_save,
}

# ---------------------------------------------------------------------------------------
# Settings of the benchmark
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
FORMAT_VERSION = 1  # bump when the generator's output changes (format of commit cc0143a)
CACHE_MAX_AGE = 24 * 3600.0  # older data sets are regenerated: "now" has moved on
DEFAULT_REPEAT = 20
DEFAULT_ACTIVE_SHARE = 30 / 360  # last ends uniform over [now - 330 d, now + 30 d]
DEFAULT_SEED = 20261128
WORKER_ENV = {"BOT_TOKEN": "123:abc", "OPENAI_API_KEY": "sk-x"}
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")

MONITOR_INTERVAL = 0.001  # the event-loop monitor sleeps this long, and records lateness
SETTLE = 0.05  # seconds to let the loop go quiet before a measured window
TRAIL = 0.2  # seconds after an operation's last run still counted for its loop blocks
IDLE_SETTLE = 0.5  # seconds between gc.collect() and reading VmRSS

TARGET_MEDIAN_RATIO = 2.0  # every operation's median at L within this factor of S
TARGET_MAX_BLOCK = 0.050  # seconds: no event-loop block longer
TARGET_STARTUP_L = 5.0  # seconds: storage start-up at L, and bot.py's beyond its bare start
# MB: idle RSS (storage alone, and bot.py) at most this much above S, per large size
TARGET_RSS_GROWTH = {"L": 50.0, "L60": 100.0}

DAY = 86_400.0
ZONE = ZoneInfo("Europe/Moscow")  # Settings.timezone's default: names the stats files
STATS_DAYS = 40
HISTORY_SHARE = 0.10
HISTORY_TURNS = 6
DAILY_ACTIVE_SHARE = 0.05
PROMO_CODES = 40
ADMIN_IDS = (111_111_111, 222_222_222)
METHOD_WEIGHTS = (("yoomoney", 0.50), ("stars", 0.30), ("sbp", 0.20))
PERIOD_SOURCE_WEIGHTS = (("payment", 0.85), ("promo", 0.10), ("admin", 0.05))
STATUS_SHARES = {"paid": 0.35, "refunded": 0.01, "rejected": 0.02}  # the rest expire
YOOMONEY_RECEIVED = 0.97  # YooMoney's fee leaves about 97% of the price


@dataclasses.dataclass(frozen=True)
class Size:
    name: str
    users: int
    payments: int
    subscriptions: int
    active_share: float | None = None  # None: --active-share


SIZES = {
    "S": Size("S", 1_000, 10_000, 1_000),
    "M": Size("M", 10_000, 100_000, 10_000),
    "L": Size("L", 100_000, 1_000_000, 100_000),
    "L60": Size("L60", 100_000, 1_000_000, 100_000, active_share=0.60),
}
LARGE_SIZES = ("L", "L60")

# ---------------------------------------------------------------------------------------
# JSON writing (orjson when installed)
# ---------------------------------------------------------------------------------------


def _json_writer() -> tuple[str, Callable[[Any], bytes]]:
    try:
        import orjson
    except ImportError:
        return "json", lambda data: json.dumps(data, ensure_ascii=False).encode()
    return "orjson", orjson.dumps


JSON_WRITER, dumps = _json_writer()


def write_json(path: Path, data: Any) -> int:
    payload = dumps(data)
    path.write_bytes(payload)
    return len(payload)


def write_json_list(path: Path, items: Iterable[Any], chunk: int = 20_000) -> int:
    """Stream a JSON list in chunks, so a million items never sit in memory as one."""
    written = 0
    with path.open("wb") as file:
        file.write(b"[")
        iterator = iter(items)
        first = True
        while batch := list(itertools.islice(iterator, chunk)):
            body = dumps(batch)[1:-1]
            if not first:
                file.write(b",")
            file.write(body)
            written += len(body) + 1
            first = False
        file.write(b"]")
    return written + 1


# ---------------------------------------------------------------------------------------
# Data generator
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CatalogInfo:
    """What the generator needs from catalog.toml (read directly, no project import)."""

    plans: dict[str, tuple[int, int, int]]  # id -> (price_rub, stars, days)
    model_keys: tuple[str, ...]
    free_model_keys: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> CatalogInfo:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        plans = {p["id"]: (p["price_rub"], p["stars"], p["days"]) for p in raw["plans"]}
        models = tuple(m["key"] for m in raw["models"])
        free = tuple(m["key"] for m in raw["models"] if m.get("free"))
        return cls(plans, models, free or models[:1])


FIRST_NAMES = ("Алексей", "Мария", "Иван", "Ольга", "Дмитрий", "Анна", "Сергей", "Елена",
               "Никита", "Юлия", "John", "Emma", "Артём", "Полина", "Максим", "Дарья")  # fmt: skip
WORDS = ("как", "сделать", "чтобы", "модель", "ответ", "код", "функция", "python", "данные",
         "пример", "объясни", "почему", "ошибка", "список", "текст", "перевод", "быстро",
         "нужно", "можно", "это", "запрос", "сервер", "таблица", "письмо", "идея", "план")  # fmt: skip
PROMO_WORDS = ("START", "SPRING", "SUMMER", "AUTUMN", "WINTER", "FRIEND", "BLOG", "STUDENT",
               "PROMO", "GIFT", "BONUS", "VIP", "NEWYEAR", "BLACKFRIDAY")  # fmt: skip


def payment_id(counter: int) -> str:
    """Unique 12-hex-digit ids in no time order (an odd multiplier permutes 2**48)."""
    return f"{(counter * 0x9E3779B97F4B + 0x5DEECE66D) % (1 << 48):012x}"


class DatasetGenerator:
    """Writes one DATA_DIR; `run()` returns the manifest (counts, ids, timings)."""

    def __init__(
        self,
        out: Path,
        size: Size,
        catalog: CatalogInfo,
        *,
        active_share: float,
        seed: int,
        now: float,
    ) -> None:
        self.out, self.size, self.catalog = out, size, catalog
        self.active_share, self.now = active_share, now
        self.rng = random.Random(f"{seed}-{size.name}")
        self.plan_ids = sorted(catalog.plans)
        self.user_ids = sorted(self.rng.sample(range(100_000_000, 8_000_000_000), size.users))
        self.codes: list[dict[str, Any]] = []
        self.codes_by_plan: dict[str, list[dict[str, Any]]] = {}
        self.code_users: set[tuple[str, int]] = set()
        self.period_payments: list[tuple[float, int, int, str, float]] = []
        self.active_subscriptions = 0

    def run(self) -> dict[str, Any]:
        started = perf_counter()
        for folder in ("users", "history", "stats"):
            (self.out / folder).mkdir(parents=True, exist_ok=True)
        self.write_users()
        self.write_history()
        self.codes = self.make_promo_codes()
        for promo in self.codes:
            self.codes_by_plan.setdefault(promo["plan_id"], []).append(promo)
        sizes = {"subscriptions.json": self.write_subscriptions()}
        sizes["promo_codes.json"] = self.write_promo_codes()
        sizes["payments.json"] = self.write_payments()
        self.write_stats()
        return {
            "format_version": FORMAT_VERSION,
            "size": dataclasses.asdict(self.size),
            "generated_at": self.now,
            "generation_s": round(perf_counter() - started, 2),
            "active_share_param": self.active_share,
            "active_share": self.active_subscriptions / max(1, self.size.subscriptions),
            "history_files": len(self.history_users()),
            "promo_codes": len(self.codes),
            "file_bytes": sizes,
            "plan_ids": self.plan_ids,
            "model_keys": list(self.catalog.model_keys),
            "user_ids": self.user_ids,
        }

    # Users and conversations ----------------------------------------------------------
    def write_users(self) -> None:
        for user_id in self.user_ids:
            write_json(self.out / "users" / f"{user_id}.json", self.user(user_id))

    def user(self, user_id: int) -> dict[str, Any]:
        rng = self.rng
        name = rng.choice(FIRST_NAMES)
        english = name.isascii()
        free = rng.random() < 0.7
        keys = self.catalog.free_model_keys if free else self.catalog.model_keys
        return {
            "id": user_id,
            "first_name": name,
            "username": f"user{user_id % 1_000_000}" if rng.random() < 0.7 else None,
            "language": "en" if english else "ru",
            "model_key": rng.choice(keys),
            "created_at": self.now - rng.uniform(0, 365 * DAY),
            "blocked": rng.random() < 0.03,
        }

    def history_users(self) -> list[int]:
        return self.user_ids[:: round(1 / HISTORY_SHARE)]

    def write_history(self) -> None:
        for user_id in self.history_users():
            turns = [{"role": role, "content": text} for role, text in self.conversation()]
            write_json(self.out / "history" / f"{user_id}.json", turns)

    def conversation(self) -> list[tuple[str, str]]:
        return conversation(self.rng)

    # Promo codes and subscriptions --------------------------------------------------------
    def make_promo_codes(self) -> list[dict[str, Any]]:
        codes = []
        for index in range(PROMO_CODES):
            word = PROMO_WORDS[index % len(PROMO_WORDS)]
            codes.append(
                {
                    "code": f"{word}{10 + index}",
                    "plan_id": self.plan_ids[index % len(self.plan_ids)],
                    "days": 30,
                    "max_uses": None,
                    "valid_until": None,
                    "created_at": self.now - self.rng.uniform(10, 380) * DAY,
                    "created_by": ADMIN_IDS[index % len(ADMIN_IDS)],
                    "activations": [],
                    "disabled": index % 13 == 5,
                }
            )
        return codes

    def write_subscriptions(self) -> int:
        pairs = self.rng.sample(
            range(self.size.users * len(self.plan_ids)), self.size.subscriptions
        )
        items = (self.subscription(*divmod(pair, len(self.plan_ids))) for pair in pairs)
        return write_json_list(self.out / "subscriptions.json", items)

    def subscription(self, user_index: int, plan_index: int) -> dict[str, Any]:
        user_id, plan_id = self.user_ids[user_index], self.plan_ids[plan_index]
        length = self.catalog.plans[plan_id][2] * DAY
        last_end = self.last_end(length)
        self.active_subscriptions += last_end > self.now
        oldest_start = self.now - 365 * DAY
        count = max(1, min(self.rng.randint(1, 3), int((last_end - oldest_start) // length)))
        periods: list[dict[str, Any]] = []
        for index in range(count):
            start = last_end - (count - index) * length
            source = self.period_source(user_id, plan_id, start, periods)
            periods.append({"start": start, "end": start + length, "source": source})
        return {
            "user_id": user_id,
            "plan_id": plan_id,
            "periods": periods,
            "reminders_sent": self.reminders(last_end),
        }

    def last_end(self, length: float) -> float:
        """Still running with probability `active_share`, else ended up to 330 days ago."""
        if self.rng.random() < self.active_share:
            return self.now + self.rng.uniform(0, length)
        return self.now - self.rng.uniform(0, 330 * DAY)

    def period_source(
        self, user_id: int, plan_id: str, start: float, earlier: list[dict[str, Any]]
    ) -> str:
        kind = weighted(self.rng, PERIOD_SOURCE_WEIGHTS)
        if kind == "promo" and (code := self.promo_for(user_id, plan_id, start)):
            return f"promo:{code}"
        if kind != "admin" and len(self.period_payments) < self.size.payments:
            return f"payment:{self.period_payment(user_id, plan_id, start, earlier)}"
        return f"admin:{self.rng.choice(ADMIN_IDS)}:{start}"

    def promo_for(self, user_id: int, plan_id: str, start: float) -> str | None:
        """A code for this plan, existing at `start`, not yet used by this user."""
        candidates = [
            promo
            for promo in self.codes_by_plan.get(plan_id, [])
            if promo["created_at"] <= start and (promo["code"], user_id) not in self.code_users
        ]
        if not candidates:
            return None
        promo = self.rng.choice(candidates)
        self.code_users.add((promo["code"], user_id))
        promo["activations"].append({"user_id": user_id, "at": start})
        return str(promo["code"])

    def period_payment(
        self, user_id: int, plan_id: str, start: float, earlier: list[dict[str, Any]]
    ) -> str:
        """A paid payment for a period: the first starts when paid, extensions before."""
        if earlier:
            floor = earlier[-1]["start"] + 600
            paid_at = max(floor, min(start, self.now) - self.rng.uniform(0, 3 * DAY))
        else:
            paid_at = start
        created_at = paid_at - self.rng.uniform(60, 1800)
        counter = len(self.period_payments)
        self.period_payments.append((created_at, counter, user_id, plan_id, paid_at))
        return payment_id(counter)

    def reminders(self, end: float) -> list[str]:
        """The marks take_due_reminders() has left by now for this end."""
        left = end - self.now
        if left <= 0:
            kinds: tuple[str, ...] = ("3d", "1d", "ended")
        elif left <= DAY:
            kinds = ("3d", "1d")
        else:
            kinds = ("3d",) if left <= 3 * DAY else ()
        return [f"{kind}:{end:.0f}" for kind in kinds]

    def write_promo_codes(self) -> int:
        for index, promo in enumerate(self.codes):
            promo["activations"].sort(key=lambda item: item["at"])
            used = len(promo["activations"])
            if index % 5 == 1:
                promo["max_uses"] = used + self.rng.randint(1, 100)
            if index % 4 == 2:
                valid = dt.datetime.fromtimestamp(self.now, ZONE).date()
                promo["valid_until"] = (
                    valid + dt.timedelta(days=self.rng.randint(10, 180))
                ).isoformat()
        return write_json(self.out / "promo_codes.json", self.codes)

    # Payments ------------------------------------------------------------------------------
    def write_payments(self) -> int:
        return write_json_list(self.out / "payments.json", self.payments())

    def payments(self) -> Iterator[dict[str, Any]]:
        """Every payment in creation order: those behind periods, then others at random."""
        seeds = self.period_payments
        shares = self.status_shares(len(seeds))
        rng = self.rng
        for counter in range(len(seeds), self.size.payments):
            created_at = self.now - rng.uniform(0, 365 * DAY)
            user_id, plan_id = rng.choice(self.user_ids), rng.choice(self.plan_ids)
            seeds.append((created_at, counter, user_id, plan_id, 0.0))
        seeds.sort()
        for created_at, counter, user_id, plan_id, paid_at in seeds:
            yield self.payment(created_at, counter, user_id, plan_id, paid_at, shares)

    def status_shares(self, period_paid: int) -> dict[str, float]:
        """Status odds for payments not behind a period, so that the totals hit
        STATUS_SHARES (the paid ones behind periods count towards "paid")."""
        others = max(1, self.size.payments - period_paid)
        settled = self.size.payments * 364 / 365
        shares = {status: share * settled / others for status, share in STATUS_SHARES.items()}
        shares["paid"] = max(0.0, (STATUS_SHARES["paid"] * settled - period_paid) / others)
        return shares

    def payment(
        self,
        created_at: float,
        counter: int,
        user_id: int,
        plan_id: str,
        paid_at: float,
        shares: dict[str, float],
    ) -> dict[str, Any]:
        rng = self.rng
        method = weighted(rng, METHOD_WEIGHTS)
        price_rub, stars, _ = self.catalog.plans[plan_id]
        payment: dict[str, Any] = {
            "id": payment_id(counter),
            "user_id": user_id,
            "plan_id": plan_id,
            "method": method,
            "amount": float(stars if method == "stars" else price_rub),
            "currency": "XTR" if method == "stars" else "RUB",
            "status": "pending",
            "created_at": created_at,
            "updated_at": created_at,
            "paid_at": None,
            "received_amount": None,
            "operation_id": None,
            "charge_id": None,
            "decided_by": None,
            "note": None,
            "receipt_sent": False,
        }
        if paid_at:
            status = "paid"
        elif self.now - created_at < DAY:
            return payment
        else:
            status = weighted(rng, [*shares.items(), ("expired", 1.0)])
            paid_at = created_at + rng.uniform(60, 1800)
        if status in ("paid", "refunded"):
            self.mark_paid(payment, paid_at)
        if status == "refunded":
            payment["decided_by"] = rng.choice(ADMIN_IDS)
            payment["updated_at"] = min(self.now, paid_at + rng.uniform(0.1, 5) * DAY)
        elif status == "rejected":
            payment["decided_by"] = rng.choice(ADMIN_IDS)
            payment["note"] = "Платёж не найден"
            payment["receipt_sent"] = method == "sbp"
            payment["updated_at"] = created_at + rng.uniform(0.1, 20) * 3600
        elif status == "expired":
            payment["updated_at"] = created_at + DAY
        payment["status"] = status
        return payment

    def mark_paid(self, payment: dict[str, Any], paid_at: float) -> None:
        payment.update(paid_at=paid_at, updated_at=paid_at)
        if payment["method"] == "yoomoney":
            payment["received_amount"] = round(payment["amount"] * YOOMONEY_RECEIVED, 2)
            payment["operation_id"] = str(self.rng.randrange(10**17, 10**18))
        elif payment["method"] == "stars":
            payment["charge_id"] = f"stxb{self.rng.getrandbits(160):040x}"
        else:  # SBP: an admin confirms the receipt
            payment["decided_by"] = self.rng.choice(ADMIN_IDS)
            payment["receipt_sent"] = True

    # Statistics ------------------------------------------------------------------------------
    def write_stats(self) -> None:
        today = dt.datetime.fromtimestamp(self.now, ZONE).date()
        for offset in range(STATS_DAYS):
            day = today - dt.timedelta(days=offset)
            write_json(self.out / "stats" / f"{day.isoformat()}.json", self.day_stats())

    def day_stats(self) -> dict[str, Any]:
        rng = self.rng
        active = sorted(
            rng.sample(self.user_ids, max(1, round(self.size.users * DAILY_ACTIVE_SHARE)))
        )
        user_messages = {str(user): 1 + int(rng.expovariate(1 / 4)) for user in active}
        total = sum(user_messages.values())
        keys = self.catalog.model_keys
        weights = [4.0 if key in self.catalog.free_model_keys else 1.0 for key in keys]
        messages: dict[str, int] = {}
        for key in rng.choices(keys, weights, k=total):
            messages[key] = messages.get(key, 0) + 1
        return {
            "new_users": max(0, round(rng.gauss(self.size.users / 365, 2))),
            "active": active,
            "messages": messages,
            "failures": {key: count // 100 for key, count in messages.items() if count >= 100},
            "prompt_tokens": {
                key: count * rng.randint(300, 900) for key, count in messages.items()
            },
            "completion_tokens": {
                key: count * rng.randint(200, 700) for key, count in messages.items()
            },
            "free_limit_refusals": round(len(active) * 0.02),
            "user_messages": user_messages,
        }


def weighted(rng: random.Random, choices: Iterable[tuple[str, float]]) -> str:
    """Pick a name by weight; the weights need not sum to 1 (the last takes the rest)."""
    point, total, name = rng.random(), 0.0, ""
    for name, weight in choices:
        total += weight
        if point < total:
            return name
    return name


def conversation(rng: random.Random) -> list[tuple[str, str]]:
    """HISTORY_TURNS alternating turns: short questions, longer answers."""
    turns = []
    for index in range(HISTORY_TURNS):
        role = "user" if index % 2 == 0 else "assistant"
        words = rng.randint(8, 50) if role == "user" else rng.randint(60, 250)
        turns.append((role, " ".join(rng.choices(WORDS, k=words)).capitalize() + "."))
    return turns


def generate_dataset(
    data_dir: Path,
    size: Size,
    catalog: CatalogInfo,
    *,
    active_share: float = DEFAULT_ACTIVE_SHARE,
    seed: int = DEFAULT_SEED,
    now: float | None = None,
) -> dict[str, Any]:
    """Write a DATA_DIR of `size` in today's format; return its manifest."""
    moment = time.time() if now is None else now
    generator = DatasetGenerator(
        data_dir, size, catalog, active_share=active_share, seed=seed, now=moment
    )
    return generator.run()


@dataclasses.dataclass(frozen=True)
class Dataset:
    data_dir: Path
    manifest_path: Path
    manifest: dict[str, Any]


def ensure_dataset(
    data_root: Path, size: Size, catalog: CatalogInfo, *, active_share: float, seed: int
) -> Dataset:
    """The cached data set for these parameters, generated if missing or stale."""
    active_share = active_share if size.active_share is None else size.active_share
    folder = data_root / "cache" / f"{size.name}-f{FORMAT_VERSION}-a{active_share:.4f}-s{seed}"
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_bytes())
        if time.time() - manifest["generated_at"] < CACHE_MAX_AGE:
            log(f"{size.name}: cached data set {folder}")
            return Dataset(folder / "data", manifest_path, manifest)
    log(f"{size.name}: generating {size} in {folder}")
    partial = folder.with_name(folder.name + ".partial")
    for stale in (partial, folder):
        shutil.rmtree(stale, ignore_errors=True)
    manifest = generate_dataset(
        partial / "data", size, catalog, active_share=active_share, seed=seed
    )
    write_json(partial / "manifest.json", manifest)
    partial.rename(folder)
    log(f"{size.name}: generated in {manifest['generation_s']} s, {describe(manifest)}")
    return Dataset(folder / "data", manifest_path, manifest)


def describe(manifest: dict[str, Any]) -> str:
    megabytes = {name: round(value / 1e6, 1) for name, value in manifest["file_bytes"].items()}
    return (
        f"active subscriptions {manifest['active_share']:.1%} "
        f"(--active-share {manifest['active_share_param']:.3f}), MB {megabytes}"
    )


# ---------------------------------------------------------------------------------------
# Worker: one fresh process per measured start
# ---------------------------------------------------------------------------------------


async def maybe_await(value: Any) -> Any:
    """The API is changing between sync and async: accept both."""
    return await value if inspect.isawaitable(value) else value


class LoopMonitor:
    """Sleeps MONITOR_INTERVAL in a loop; the worst lateness is the longest loop block."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            before = perf_counter()
            await asyncio.sleep(MONITOR_INTERVAL)
            self.worst = max(self.worst, perf_counter() - before - MONITOR_INTERVAL)

    async def window(self) -> None:
        """Let the loop go quiet, then start a new observation window."""
        await asyncio.sleep(SETTLE)
        self.worst = 0.0


class Bench:
    """What the operation adapters get: the services, test data and a stopwatch."""

    def __init__(self, services: Any, manifest: dict[str, Any], seed: int) -> None:
        self.services = services
        self.rng = random.Random(seed)
        self.user_ids: list[int] = manifest["user_ids"]
        self.plan_ids: list[str] = manifest["plan_ids"]
        self.model_keys: list[str] = manifest["model_keys"]
        self.latencies: list[float] = []
        self.pending: list[Any] = []  # payments made by "pay press", for "credit"
        self.state: dict[str, Any] = {}  # anything an adapter keeps between runs
        self._fresh: list[int] = self.rng.sample(self.user_ids, len(self.user_ids))

    def random_user(self) -> int:
        return self.rng.choice(self.user_ids)

    def fresh_user(self) -> int:
        """A user not returned by this method before."""
        return self._fresh.pop()

    def random_plan(self) -> str:
        return self.rng.choice(self.plan_ids)

    def random_model(self) -> str:
        return self.rng.choice(self.model_keys)

    def token(self, digits: int) -> str:
        return "".join(self.rng.choices("0123456789abcdef", k=digits))

    def conversation(self) -> list[tuple[str, str]]:
        return conversation(self.rng)

    @contextlib.asynccontextmanager
    async def timed(self) -> AsyncIterator[None]:
        started = perf_counter()
        yield
        self.latencies.append(perf_counter() - started)


async def run_operation(
    bench: Bench, monitor: LoopMonitor, name: str, repeat: int
) -> dict[str, Any]:
    """`repeat` runs of one operation: latencies, and the worst loop block meanwhile."""
    bench.latencies = []
    await monitor.window()
    started = perf_counter()
    error = None
    try:
        for _ in range(repeat):
            await OPERATIONS[name](bench)
    except Exception as exc:  # an adapter out of date: report it, measure the rest
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
    await asyncio.sleep(TRAIL)  # blocks from writes that finish after the call count too
    latencies = bench.latencies
    result: dict[str, Any] = {
        "n": len(latencies),
        "median_s": statistics.median(latencies) if latencies else None,
        "min_s": min(latencies, default=None),
        "max_s": max(latencies, default=None),
        "max_block_s": monitor.worst,
        "wall_s": perf_counter() - started,
    }
    if error:
        result["error"] = error
    log(f"  {name}: {summary(result)}")
    return result


def summary(result: dict[str, Any]) -> str:
    if result["median_s"] is None:
        return f"failed: {result.get('error')}"
    return (
        f"median {result['median_s'] * 1000:.1f} ms over {result['n']}, "
        f"max block {result['max_block_s'] * 1000:.1f} ms"
    )


def proc_status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def idle_rss_mb() -> float:
    gc.collect()
    await asyncio.sleep(IDLE_SETTLE)
    return proc_status_mb("VmRSS")


async def measure_in_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Start the services on DATA_DIR, then run the operations; all timings inside."""
    started = perf_counter()
    modules = [project(name) for name in PROJECT_MODULES]
    result: dict[str, Any] = {"import_s": perf_counter() - started}
    result["services_module"] = str(Path(modules[-1].__file__ or "?").parent)
    monitor = LoopMonitor()
    monitor_task = asyncio.create_task(monitor.run())
    settings, catalog = load_config()
    await monitor.window()
    started = perf_counter()
    services = await start_services(settings, catalog)
    result["startup_s"] = perf_counter() - started
    await asyncio.sleep(SETTLE)
    result["startup_block_s"] = monitor.worst
    result["rss_idle_mb"] = await idle_rss_mb()
    result["rss_peak_mb"] = proc_status_mb("VmHWM")
    log(f"  start-up {result['startup_s']:.2f} s, idle RSS {result['rss_idle_mb']:.0f} MB")
    if spec["operations"]:
        manifest = json.loads(Path(spec["manifest"]).read_bytes())
        bench = Bench(services, manifest, spec["seed"])
        result["operations"] = {
            name: await run_operation(bench, monitor, name, spec["repeat"])
            for name in spec["operations"]
        }
        result["rss_after_ops_mb"] = await idle_rss_mb()
    started = perf_counter()
    await stop_services(services)
    result["shutdown_s"] = perf_counter() - started
    monitor_task.cancel()
    return result


def worker_main(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_bytes())
    sys.path.insert(0, spec["project_root"])
    result = asyncio.run(measure_in_worker(spec))
    Path(spec["result_path"]).write_bytes(dumps(result))


# ---------------------------------------------------------------------------------------
# Parent: data sets, fresh copies, workers
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunConfig:
    project_root: Path
    data_root: Path
    operations: list[str]
    repeat: dict[str, int]
    seed: int
    keep: bool
    bot: bool = True  # also start the real bot.py


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_worker(
    config: RunConfig, label: str, data_dir: Path, dataset: Dataset | None, repeat: int
) -> dict[str, Any]:
    """One fresh process: start the services on `data_dir` (and run the operations)."""
    spec_path = config.data_root / "work" / f"{label}.spec.json"
    result_path = spec_path.with_name(f"{label}.result.json")
    result_path.unlink(missing_ok=True)
    spec = {
        "project_root": str(config.project_root),
        "manifest": str(dataset.manifest_path) if dataset else None,
        "operations": config.operations if dataset and repeat else [],
        "repeat": repeat,
        "seed": config.seed,
        "result_path": str(result_path),
    }
    spec_path.write_bytes(dumps(spec))
    env = {name: os.environ[name] for name in KEPT_ENV if name in os.environ}
    env.update(WORKER_ENV, DATA_DIR=str(data_dir))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)]
    log(f"{label}: worker on {data_dir}")
    started = perf_counter()
    code = subprocess.run(command, env=env, check=False).returncode
    if code != 0 or not result_path.exists():
        return {"error": f"worker exited with {code}"}
    result: dict[str, Any] = json.loads(result_path.read_bytes())
    result["process_s"] = perf_counter() - started
    return result


def run_bot(config: RunConfig, label: str, data_dir: Path) -> dict[str, Any] | None:
    """The real `python bot.py` started once on `data_dir` (None with --no-bot)."""
    if not config.bot:
        return None
    from bot_start import measure_bot_start  # the stand-ins: only when bot.py is measured

    log_path = config.data_root / "work" / f"{label}.bot.log"
    result = measure_bot_start(config.project_root, data_dir, log_path)
    if "error" in result:
        log(f"{label}: bot.py {result['error']}")
    else:
        log(
            f"{label}: bot.py polls after {result['startup_s']:.2f} s, "
            f"idle RSS {result['rss_idle_mb']:.0f} MB"
        )
    return result


def fresh_copy(source: Path, target: Path) -> float:
    started = perf_counter()
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return perf_counter() - started


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file, to see whether a start converted anything."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            stat = (Path(folder) / name).stat()
            files[str(Path(folder, name).relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return files


def count_changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> int:
    return sum(before.get(path) != after.get(path) for path in before.keys() | after.keys())


def measure_size(config: RunConfig, size: Size, dataset: Dataset, tag: str) -> dict[str, Any]:
    """First start (the upgrade), bot.py's restart, then the measured storage start."""
    label = f"{size.name}{tag}"
    work = config.data_root / "work" / label
    copy_s = fresh_copy(dataset.data_dir, work)
    log(f"{label}: fresh copy in {copy_s:.1f} s")
    before = snapshot(work)
    first = run_worker(config, f"{label}-first", work, None, 0)
    changed = count_changes(before, snapshot(work))
    bot = run_bot(config, label, work)  # before the operations add to the data
    repeat = config.repeat.get(size.name, DEFAULT_REPEAT)
    second = run_worker(config, f"{label}-second", work, dataset, repeat)
    if not config.keep:
        shutil.rmtree(work, ignore_errors=True)
    manifest = {key: value for key, value in dataset.manifest.items() if key != "user_ids"}
    return {
        "dataset": manifest,
        "copy_s": copy_s,
        "first_start": first,
        "first_start_changed_files": changed,
        "upgrade": changed > 0,
        "repeat": repeat,
        "run": second,
        "bot": bot,
    }


def measure_empty(config: RunConfig, tag: str) -> dict[str, Any]:
    """The bare start on an empty DATA_DIR: storage alone, and bot.py under "bot"."""
    empty = config.data_root / "work" / f"empty{tag}"
    shutil.rmtree(empty, ignore_errors=True)
    empty.mkdir(parents=True)
    result = run_worker(config, f"empty{tag}", empty, None, 0)
    shutil.rmtree(empty, ignore_errors=True)
    empty.mkdir(parents=True)
    result["bot"] = run_bot(config, f"empty{tag}", empty)
    shutil.rmtree(empty, ignore_errors=True)
    return result


def git_state(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "changed_files": len(git("status", "--porcelain").splitlines()),
    }


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

Getter = Callable[[dict[str, Any] | None], float | None]


def field(*keys: str) -> Getter:
    """A getter of a nested number in a size's result (None when absent)."""

    def get(data: dict[str, Any] | None) -> float | None:
        value: Any = data
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value) if isinstance(value, int | float) else None

    return get


STARTUP, IDLE_RSS = field("run", "startup_s"), field("run", "rss_idle_mb")
BOT_STARTUP, BOT_RSS = field("bot", "startup_s"), field("bot", "rss_idle_mb")
BOT_BEYOND_BARE = field("bot", "beyond_bare_s")


def op_median(name: str) -> Getter:
    return field("run", "operations", name, "median_s")


def op_block(name: str) -> Getter:
    return field("run", "operations", name, "max_block_s")


@dataclasses.dataclass(frozen=True)
class Metric:
    label: str
    get: Getter
    scale: float = 1.0  # seconds -> ms for the table
    on_empty: bool = False  # also measured on the empty data dir


def metrics(operations: Iterable[str]) -> list[Metric]:
    rows = [
        Metric("first start / upgrade, s", field("first_start", "startup_s")),
        Metric("first start idle RSS, MB", field("first_start", "rss_idle_mb")),
        Metric("first start peak RSS, MB", field("first_start", "rss_peak_mb")),
        Metric("start-up, s", STARTUP, on_empty=True),
        Metric("start-up loop block, ms", field("run", "startup_block_s"), 1000),
        Metric("idle RSS, MB", IDLE_RSS, on_empty=True),
        Metric("peak RSS, MB", field("run", "rss_peak_mb"), on_empty=True),
        Metric("bot.py start-up, s", BOT_STARTUP, on_empty=True),
        Metric("bot.py beyond bare start, s", BOT_BEYOND_BARE),
        Metric("bot.py idle RSS, MB", BOT_RSS, on_empty=True),
        Metric("bot.py peak RSS, MB", field("bot", "rss_peak_mb"), on_empty=True),
    ]
    for name in operations:
        rows.append(Metric(f"{name} median, ms", op_median(name), 1000))
        rows.append(Metric(f"{name} loop block, ms", op_block(name), 1000))
    return rows


def fmt(value: float | None, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    value *= scale
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def ratio(high: float | None, low: float | None) -> float | None:
    return high / low if high is not None and low else None


def minus(high: float | None, low: float | None) -> float | None:
    return high - low if high is not None and low is not None else None


def empty_as_size(empty: dict[str, Any]) -> dict[str, Any]:
    """The empty start's result shaped like a size's (storage under "run")."""
    return {"run": empty, "bot": empty.get("bot")}


def add_derived(measured: dict[str, Any]) -> None:
    """bot.py's start-up beyond its bare start (the same checkout on an empty DATA_DIR)."""
    bare = BOT_STARTUP(empty_as_size(measured["empty"]))
    for data in measured["sizes"].values():
        started = BOT_STARTUP(data)
        if bare is not None and started is not None:
            data["bot"]["beyond_bare_s"] = started - bare


def print_table(results: dict[str, Any], baseline: dict[str, Any] | None) -> None:
    """Metric | empty | each size | each size / S [| --against: empty, each size]
    [| baseline S | baseline L]."""
    names = list(results["sizes"])
    others = [name for name in names if name != "S"]
    against = results.get("against")
    header = ["metric", "empty", *names, *(f"{name}/S" for name in others)]
    if against:
        header += ["old empty", *(f"old {name}" for name in names)]
    if baseline:
        header += ["base S", "base L"]
    rows = [header]

    def cells(measured: dict[str, Any], metric: Metric) -> list[str]:
        empty = empty_as_size(measured["empty"])
        row = [fmt(metric.get(empty) if metric.on_empty else None, metric.scale)]
        return row + [fmt(metric.get(measured["sizes"].get(name)), metric.scale) for name in names]

    for metric in metrics(results["operations"]):
        small = metric.get(results["sizes"].get("S"))
        row = [metric.label, *cells(results, metric)]
        row += [fmt(ratio(metric.get(results["sizes"].get(name)), small)) for name in others]
        if against:
            row += cells(against, metric)
        if baseline:
            row += [fmt(metric.get(baseline["sizes"].get(name)), metric.scale) for name in "SL"]
        rows.append(row)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        line = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
        line[0] = row[0].ljust(widths[0])
        print("  ".join(line))
    for label, measured in (("", results), ("old ", against)):
        if not measured:
            continue
        small, empty = measured["sizes"].get("S"), empty_as_size(measured["empty"])
        for name in others:
            large = measured["sizes"][name]
            print(
                f"{label}idle RSS: {name} - S = "
                f"{fmt(minus(IDLE_RSS(large), IDLE_RSS(small)))} MB storage alone, "
                f"{fmt(minus(BOT_RSS(large), BOT_RSS(small)))} MB bot.py; "
                f"{name} - empty = {fmt(minus(IDLE_RSS(large), IDLE_RSS(empty)))} MB, "
                f"{fmt(minus(BOT_RSS(large), BOT_RSS(empty)))} MB"
            )
    for name, data in results["sizes"].items():
        changed = data["first_start_changed_files"]
        kind = f"upgrade ({changed} files changed)" if changed else "no file changed"
        print(f"{name}: first start: {kind}; {describe(data['dataset'])}")


def check_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """PASS / FAIL (or SKIP without the sizes compared) for every TARGET_*."""
    sizes = results["sizes"]
    small = sizes.get("S")
    checks = []

    def add(name: str, ok: bool, detail: str, skip: bool) -> None:
        status = "SKIP" if skip else "PASS" if ok else "FAIL"
        checks.append({"check": name, "status": status, "detail": detail})

    large = sizes.get("L")
    for name in results["operations"]:
        value = ratio(op_median(name)(large), op_median(name)(small))
        ok = value is not None and value <= TARGET_MEDIAN_RATIO
        skip = small is None or large is None
        add(f"{name}: median at L <= {TARGET_MEDIAN_RATIO:g}x S", ok, f"L/S = {fmt(value)}", skip)
    blocks = [
        (op_block(name)(data) or 0.0, f"{size} {name}")
        for size, data in sizes.items()
        for name in results["operations"]
    ]
    worst, where = max(blocks, default=(0.0, "-"))
    ok = worst <= TARGET_MAX_BLOCK
    detail = f"worst {worst * 1000:.1f} ms ({where})"
    add(f"no loop block > {TARGET_MAX_BLOCK * 1000:g} ms", ok, detail, skip=not blocks)
    for size in LARGE_SIZES:
        data = sizes.get(size)
        for what, getter in (("start-up", STARTUP), ("bot.py beyond bare start", BOT_BEYOND_BARE)):
            value = getter(data)
            ok = value is not None and value < TARGET_STARTUP_L
            skip = data is None or (getter is BOT_BEYOND_BARE and not data.get("bot"))
            add(f"{what} at {size} < {TARGET_STARTUP_L:g} s", ok, f"{fmt(value)} s", skip)
        limit = TARGET_RSS_GROWTH[size]
        for what, getter in (("idle RSS", IDLE_RSS), ("bot.py idle RSS", BOT_RSS)):
            growth = minus(getter(data), getter(small))
            ok = growth is not None and growth <= limit
            skip = small is None or data is None or (getter is BOT_RSS and not data.get("bot"))
            add(f"{what} at {size} <= S + {limit:g} MB", ok, f"{size} - S = {fmt(growth)} MB", skip)
    return checks


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def parse_repeat(text: str, sizes: list[str]) -> dict[str, int]:
    """`20` for every size, or per size: `S=20,L=2`."""
    if "=" not in text:
        return dict.fromkeys(sizes, int(text))
    pairs = (part.split("=", 1) for part in text.split(",") if part)
    return {name.strip(): int(count) for name, count in pairs}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="S,L,L60", help="comma-separated: S, M, L, L60")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/storage-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the working copies")
    parser.add_argument("--repeat", default=str(DEFAULT_REPEAT), help="N, or S=20,L=2")
    parser.add_argument("--ops", default=",".join(OPERATIONS), help="operations to run")
    parser.add_argument("--project-root", type=Path, default=ROOT, help="the code under test")
    parser.add_argument(
        "--against", type=Path, help="another checkout, measured in the same run (old vs new)"
    )
    parser.add_argument("--no-bot", action="store_true", help="skip the bot.py starts")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "storage_results.json")
    parser.add_argument(
        "--compare",
        type=Path,
        default=ROOT / "bench" / "storage_baseline.json",
        help="earlier results to show beside these (if the file exists)",
    )
    parser.add_argument("--active-share", type=float, default=DEFAULT_ACTIVE_SHARE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--generate-only", action="store_true", help="only build the data sets")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    size_names = [name.strip().upper() for name in args.sizes.split(",") if name.strip()]
    unknown = [name for name in size_names if name not in SIZES]
    operations = [name.strip() for name in args.ops.split(",") if name.strip()]
    unknown += [name for name in operations if name not in OPERATIONS]
    if unknown:
        print(f"unknown size or operation: {', '.join(unknown)}", file=sys.stderr)
        return 2
    project_root = args.project_root.resolve()
    catalog = CatalogInfo.read(project_root / "catalog.toml")
    data_root = args.data_root.resolve()
    (data_root / "work").mkdir(parents=True, exist_ok=True)
    if args.generate_only:
        for name in size_names:
            dataset = ensure_dataset(
                data_root, SIZES[name], catalog, active_share=args.active_share, seed=args.seed
            )
            print(f"{name}: {dataset.data_dir}  {describe(dataset.manifest)}")
        return 0
    repeat = parse_repeat(args.repeat, size_names)
    config = RunConfig(
        project_root, data_root, operations, repeat, args.seed, args.keep, not args.no_bot
    )
    # Each start by the checkout under test, then (with --against) by the other one.
    configs = {"": config}
    if args.against:
        configs["-old"] = dataclasses.replace(config, project_root=args.against.resolve())
    measured: dict[str, dict[str, Any]] = {
        tag: {"empty": measure_empty(each, tag), "sizes": {}} for tag, each in configs.items()
    }
    for name in size_names:
        dataset = ensure_dataset(
            data_root, SIZES[name], catalog, active_share=args.active_share, seed=args.seed
        )
        for tag, each in configs.items():
            measured[tag]["sizes"][name] = measure_size(each, SIZES[name], dataset, tag)
    for measurement in measured.values():
        add_derived(measurement)
    results: dict[str, Any] = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "project_root": str(project_root),
            "git": git_state(project_root),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "json_writer": JSON_WRITER,
            "data_root": str(data_root),
        },
        "operations": operations,
        **measured[""],
    }
    if args.against:
        root = args.against.resolve()
        results["against"] = {"project_root": str(root), "git": git_state(root)}
        results["against"].update(measured["-old"])
    results["checks"] = check_targets(results)
    compare = args.compare.resolve()
    baseline = None
    if compare.exists() and compare != args.output.resolve():
        baseline = json.loads(compare.read_bytes())
    print(f"\nStorage benchmark: {project_root} ({results['meta']['git']})")
    if args.against:
        print(f"old: {results['against']['project_root']} ({results['against']['git']})")
    print_table(results, baseline)
    for check in results["checks"]:
        print(f"{check['status']:4}  {check['check']}: {check['detail']}")
    args.output.write_bytes(json.dumps(results, indent=1, ensure_ascii=False).encode())
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
