"""What sharing per-user state in Redis costs each message, against keeping it in memory.

    python bench/shared_state_benchmark.py [--redis redis://127.0.0.1:6379/0] [--n 2000]

For each piece a message meets on its way — flood control's check and its "handled",
the answer queue (offer, first request, next request: a message answered alone), the
quota's take (a refresh and the atomic take), the running answer's registration (begin,
end) — N operations on distinct users, in this process's memory and in Redis (a key
prefix of its own, deleted after): wall time and CPU time per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.catalog import load_catalog  # noqa: E402
from services.chat.inbox import Inbox, Request, RequestQueue  # noqa: E402
from services.chat.running import LocalAnswers, RunningAnswers  # noqa: E402
from services.limits.access import AccessService  # noqa: E402
from services.limits.flood import ANSWER_COST, Flood, FloodControl  # noqa: E402
from services.limits.quota import QuotaService  # noqa: E402
from services.money.subscriptions import SubscriptionService  # noqa: E402
from services.operator.stats import StatsService  # noqa: E402
from services.shared.answers import RedisAnswers  # noqa: E402
from services.shared.bus import EventBus  # noqa: E402
from services.shared.flood import RedisFlood  # noqa: E402
from services.shared.inbox import RedisInbox  # noqa: E402
from services.shared.quota import RedisCounters  # noqa: E402
from services.shared.state import SharedState  # noqa: E402
from services.storage.base import Retention  # noqa: E402
from services.storage.memory import MemoryStorage  # noqa: E402

ZONE = ZoneInfo("Europe/Moscow")


async def measure(n: int, step: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """(wall µs, CPU µs) per step, over n users."""
    wall, cpu = time.perf_counter(), time.process_time()
    for user in range(n):
        await step(1_000_000 + user)
    return (
        (time.perf_counter() - wall) / n * 1e6,
        (time.process_time() - cpu) / n * 1e6,
    )


async def pieces(shared: SharedState | None) -> dict[str, Callable[[int], Awaitable[object]]]:
    catalog = load_catalog(ROOT / "catalog.toml")
    storage = MemoryStorage(Retention(open_payment_seconds=86_400))
    stats = StatsService(storage, ZONE)
    await stats.load()
    access = AccessService(catalog, SubscriptionService(storage, catalog))
    counters = RedisCounters(shared) if shared is not None else None
    quota = QuotaService(catalog, access, stats, ZONE, shared=counters)
    flood: Flood = RedisFlood(shared) if shared is not None else FloodControl()
    inbox: RequestQueue = RedisInbox(shared) if shared is not None else Inbox()
    answers: RunningAnswers = (
        RedisAnswers(shared, EventBus(shared)) if shared is not None else LocalAnswers()
    )
    nano = catalog.models_by_key["gpt-5-nano"]

    async def flood_step(user: int) -> None:
        await flood.check(user, time.time(), ANSWER_COST, joining=1)
        await flood.handled(user)

    async def queue_step(user: int) -> None:
        request = Request("hello")
        await inbox.offer(user, request)
        await inbox.first_request(user, request)
        await inbox.next_request(user)

    async def answer_step(user: int) -> None:
        token = await answers.begin(user, lambda: None)
        await answers.end(user, token)

    return {
        "flood control": flood_step,
        "answer queue": queue_step,
        "quota take": lambda user: quota.take(user, nano, 100),
        "running answer": answer_step,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    client = Redis.from_url(args.redis)
    shared = SharedState(client, f"bench-{uuid.uuid4().hex[:8]}")
    try:
        memory, redis = await pieces(None), await pieces(shared)
        print(f"{'per message':<16} {'memory µs':>10} {'cpu':>6} {'redis µs':>10} {'cpu':>6}")
        totals = [0.0, 0.0, 0.0, 0.0]
        for name in memory:
            here = await measure(args.n, memory[name])
            there = await measure(args.n, redis[name])
            for index, value in enumerate((*here, *there)):
                totals[index] += value
            print(f"{name:<16} {here[0]:>10.0f} {here[1]:>6.0f} {there[0]:>10.0f} {there[1]:>6.0f}")
        row = [f"{value:>{width}.0f}" for value, width in zip(totals, (10, 6, 10, 6), strict=True)]
        print(f"{'all':<16} {' '.join(row)}")
    finally:
        keys = [key async for key in client.scan_iter(match=f"{shared.prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
