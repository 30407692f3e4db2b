"""The bot on JSON, on PostgreSQL, and as two processes, side by side in one run.

    python bench/scale_benchmark.py [--users N] [--messages-per-user K] [--buyers B]

Three set-ups of this checkout's `bot.py`, each on fresh stand-ins (the Bot API emulator,
an instant OpenAI-compatible model) and fresh data:
- json: one process, long polling, the JSON journal in a fresh DATA_DIR;
- postgres: one process, long polling, a fresh PostgreSQL database;
- one process on PostgreSQL + Redis + webhooks (what sharing costs one process);
- two processes on PostgreSQL + Redis + webhooks, the emulator posting every update to a
  round-robin proxy in front of both (tests/stubs/round_robin.py).
Each gets the same closed-loop chat load (every user sends K messages, each after the
answer to the previous one; warm-up first) and then B buyers who open /plans, choose a
plan and press "Stars": the pay-press latency is the time from that press to the invoice.
Printed: messages per second, the bot processes' CPU time per answered message (each and
together), the pay-press latency (median and 95th percentile), and the ratios.
PostgreSQL and Redis are the local servers (TEST_DATABASE_URL, TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmark import (  # noqa: E402
    FIRST_USER,
    OURS,
    WARMUP_USERS,
    BotProcess,
    ClosedLoop,
    StandIns,
    bot_environment,
    stand_ins,
    stopping_on_sigterm,
)

from edge.callbacks import BuyPlan, PayMethod, PayWith  # noqa: E402
from tests.conftest import REDIS_URL, delete_prefix, redis_client, unique_prefix  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402
from tests.postgres import fresh_database  # noqa: E402
from tests.stubs.round_robin import RoundRobinProxy  # noqa: E402
from tests.stubs.telegram_server import FakeTelegram  # noqa: E402

START_TIMEOUT = 60.0
SECRET = "bench_webhook-secret"
PATH = "/telegram/webhook"
PLAN = "power_group"
FIRST_BUYER = 900_000


@dataclass(frozen=True)
class Result:
    messages: int
    seconds: float
    cpu: list[float]  # CPU seconds of each bot process during the timed load
    pay_press: list[float]  # seconds from the Stars press to the invoice, per buyer

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def cpu_ms(self) -> float:
        return 1000 * sum(self.cpu) / self.messages


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):
        while not condition():  # noqa: ASYNC110 (the emulator's state: no event to wait on)
            await asyncio.sleep(0.002)


async def spawn(env: dict[str, str], log: Path) -> BotProcess:
    return await BotProcess.spawn(("bot.py",), env, log)


async def polling(bot: BotProcess, telegram: FakeTelegram) -> None:
    await bot.wait_polling(telegram)


async def webhook_ready(bot: BotProcess, telegram: FakeTelegram, before: int) -> None:
    """Until this process has set the webhook (its setWebhook came in) and serves."""
    deadline = time.monotonic() + START_TIMEOUT
    while telegram.method_counts["setwebhook"] <= before:
        if bot.process.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not set its webhook:\n{bot.log_tail()}")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # the web server is up before setWebhook; routes settle


@contextlib.asynccontextmanager
async def set_up(kind: str, services: StandIns, workdir: Path) -> AsyncIterator[list[BotProcess]]:
    """The bot processes of one set-up, started on fresh data; always stopped."""
    telegram = services.telegram
    data_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
    env = bot_environment(services, data_dir)
    bots: list[BotProcess] = []
    async with contextlib.AsyncExitStack() as stack:
        if kind == "json":
            bots.append(await spawn(env, data_dir.with_suffix(".log")))
            await polling(bots[0], telegram)
        else:
            env["DATABASE_URL"] = await stack.enter_async_context(fresh_database())
        if kind == "postgres":
            bots.append(await spawn(env, data_dir.with_suffix(".log")))
            await polling(bots[0], telegram)
        if kind in ("one", "two"):
            prefix = unique_prefix()
            stack.push_async_callback(_drop_prefix, prefix)
            ports = [free_port() for _ in range(2 if kind == "two" else 1)]
            proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
            await proxy.start()
            stack.push_async_callback(proxy.stop)
            env |= {
                "REDIS_URL": REDIS_URL,
                "REDIS_PREFIX": prefix,
                "WEBHOOK_URL": f"{proxy.base_url}{PATH}",
                "WEBHOOK_SECRET": SECRET,
            }
            for number, port in enumerate(ports):
                before = telegram.method_counts["setwebhook"]
                log = data_dir.with_name(f"{data_dir.name}-{number}.log")
                process_env = {**env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port)}
                bots.append(await spawn(process_env, log))
                await webhook_ready(bots[-1], telegram, before)
        try:
            yield bots
        finally:
            for bot in bots:
                await bot.stop()


async def _drop_prefix(prefix: str) -> None:
    client = await redis_client()
    await delete_prefix(client, prefix)
    await client.aclose()


async def pay_press(telegram: FakeTelegram, user: int) -> float:
    """/plans, the plan, then "Stars": seconds from that press to the invoice."""
    telegram.user_message(user, "/plans")
    await until(lambda: any("Тарифы" in m.text for m in telegram.messages(user)))
    plans = next(m for m in telegram.messages(user) if "Тарифы" in m.text)
    telegram.press(user, plans, BuyPlan(plan_id=PLAN))
    await until(lambda: any("способ оплаты" in m.text for m in telegram.messages(user)))
    methods = next(m for m in telegram.messages(user) if "способ оплаты" in m.text)
    pressed = time.perf_counter()
    telegram.press(user, methods, PayWith(plan_id=PLAN, method=PayMethod.STARS))
    await until(lambda: any(m.kind == "invoice" for m in telegram.messages(user)))
    return time.perf_counter() - pressed


async def measure(kind: str, users: int, per_user: int, buyers: int, workdir: Path) -> Result:
    async with stand_ins() as services, set_up(kind, services, workdir) as bots:
        telegram = services.telegram
        await ClosedLoop(
            telegram, range(FIRST_USER - WARMUP_USERS, FIRST_USER), 2, OURS.answer
        ).run()
        cpu_before = [bot.cpu_seconds() for bot in bots]
        load = ClosedLoop(telegram, range(FIRST_USER, FIRST_USER + users), per_user, OURS.answer)
        try:
            seconds = await load.run()
        except RuntimeError as error:
            logs = "\n".join(bot.log_tail() for bot in bots)
            raise RuntimeError(f"{kind}: {error}\n{logs}") from None
        cpu = [bot.cpu_seconds() - before for bot, before in zip(bots, cpu_before, strict=True)]
        presses = await asyncio.gather(
            *(pay_press(telegram, FIRST_BUYER + n) for n in range(buyers))
        )
        return Result(load.total, seconds, cpu, list(presses))


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


SETUPS = {
    "json": "JSON, 1 process",
    "postgres": "PostgreSQL, 1 process",
    "one": "PostgreSQL + Redis, 1 process",
    "two": "PostgreSQL + Redis, 2 processes",
}


async def run(users: int, per_user: int, buyers: int, workdir: Path, kinds: Sequence[str]) -> None:
    print(
        f"{users} users x {per_user} messages, closed loop, instant model; {buyers} buyers "
        f"pressing Stars at once; {os.cpu_count()} CPUs"
    )
    results = {}
    for kind in kinds:
        name = SETUPS[kind]
        results[kind] = result = await measure(kind, users, per_user, buyers, workdir)
        each = " + ".join(f"{1000 * c / result.messages:.2f}" for c in result.cpu)
        print(
            f"{name:<32} {result.rate:>7.0f} msg/s   CPU {result.cpu_ms():.2f} ms/msg ({each})"
            f"   pay press {1000 * statistics.median(result.pay_press):.0f} ms median, "
            f"{1000 * p95(result.pay_press):.0f} ms p95"
        )
    if {"json", "postgres"} <= results.keys():
        json_, pg = results["json"], results["postgres"]
        print(
            f"PostgreSQL / JSON: {pg.rate / json_.rate:.2f}x the messages per second, "
            f"{pg.cpu_ms() / json_.cpu_ms():.2f}x the CPU per message, pay press median "
            f"{statistics.median(pg.pay_press) / statistics.median(json_.pay_press):.2f}x"
        )
    for first, second in (("postgres", "one"), ("one", "two"), ("postgres", "two")):
        if {first, second} <= results.keys():
            a, b = results[first], results[second]
            print(
                f"{SETUPS[second]} / {SETUPS[first]}: {b.rate / a.rate:.2f}x the messages per "
                f"second, {b.cpu_ms() / a.cpu_ms():.2f}x the CPU per message, pay press median "
                f"{statistics.median(b.pay_press) / statistics.median(a.pay_press):.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages-per-user", type=int, default=20)
    parser.add_argument("--buyers", type=int, default=20)
    parser.add_argument("--setups", default=",".join(SETUPS), help="json,postgres,two")
    args = parser.parse_args()
    kinds = args.setups.split(",")
    if not kinds or not set(kinds) <= SETUPS.keys():
        parser.error(f"--setups: some of {', '.join(SETUPS)}")
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as workdir:
        job = run(args.users, args.messages_per_user, args.buyers, Path(workdir), kinds)
        try:
            asyncio.run(stopping_on_sigterm(job))
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise SystemExit("interrupted; the bots were stopped") from None


if __name__ == "__main__":
    main()
