"""Throughput of this bot against two baselines, on the local stand-ins.

    python bench/benchmark.py [--users N] [--messages-per-user K] [--repeats R] [--profile]
                              [--against OTHER_CHECKOUT]

Starts the Bot API emulator and an instant OpenAI-compatible model on 127.0.0.1 and
drives three bots, one after another, through the same closed-loop load: every user
sends K messages, each only after the answer to the previous one has arrived. Each run
gets fresh stand-ins (and, for this bot, a fresh DATA_DIR), a short untimed warm-up,
then the timed load; the best of R runs counts. Finally 200 users write to this bot at
once while the model takes one second to answer.

`--against DIR` adds the `bot.py` of another checkout (an older commit, say `git worktree
add /tmp/old HEAD~5`) to the same run, with the ratio of this bot to it: an A/B in one run.

`--profile` instead runs this bot once under cProfile through the same load and prints
the top entries by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config import PROVIDER_NAMES  # noqa: E402
from tests.stubs.openai_server import FakeOpenAI, echo_reply  # noqa: E402
from tests.stubs.telegram_server import FakeTelegram, SentMessage, _Chat  # noqa: E402

TOKEN = "123456:BENCH-token"
API_KEY = "sk-bench"
START_TIMEOUT = 30.0  # seconds for a bot to start polling
STOP_TIMEOUT = 15.0  # seconds for a bot to exit after SIGTERM
RUN_TIMEOUT = 120.0  # seconds for one timed load
WARMUP_USERS = 4
BURST_USERS = 200
OPEN_USERS = 200  # the open-loop load: each user sends OPEN_MESSAGES at once
OPEN_MESSAGES = 10
BURST_DELAY = 1.0  # the model's time to first token in the burst test
FIRST_USER = 100_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NOT_IMPORTS = r"^(?!.*(<module>|importlib|_bootstrap))"  # a pstats filter


@dataclass(frozen=True)
class BotSpec:
    """How to start a bot and what its answer to a question contains."""

    name: str
    argv: tuple[str, ...]
    answer: Callable[[str], str]


def model_answer(question: str) -> str:
    """What the stand-in model replies to `question` (see `echo_reply`)."""
    return f"Echo: {question}"


ECHO = BotSpec("echo (aiogram)", ("bench/echo_bot.py",), lambda question: question)
MINIMAL = BotSpec("minimal (aiogram+openai)", ("bench/minimal_bot.py",), model_answer)
MINIMAL_AIOHTTP = BotSpec(
    "minimal, aiohttp transport", ("bench/minimal_bot.py", "--aiohttp"), model_answer
)
OURS = BotSpec("this bot (bot.py)", ("bot.py",), model_answer)
BOTS = (ECHO, MINIMAL, MINIMAL_AIOHTTP, OURS)


class BenchTelegram(FakeTelegram):
    """The emulator, telling `listener` about every message the bot sends or edits."""

    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.record_calls = False
        self.listener: Callable[[int, str], None] | None = None

    def _store(self, chat: _Chat, **fields: Any) -> SentMessage:
        message = super()._store(chat, **fields)
        if self.listener is not None:
            self.listener(message.chat_id, message.text)
        return message

    def _edited(self, message: SentMessage) -> dict[str, Any]:
        if self.listener is not None:
            self.listener(message.chat_id, message.text)
        return super()._edited(message)


class ClosedLoop:
    """Users who each ask `per_user` questions, the next one once the answer is in."""

    def __init__(
        self,
        telegram: BenchTelegram,
        users: Sequence[int],
        per_user: int,
        answer: Callable[[str], str],
    ) -> None:
        self._telegram = telegram
        self._users = users
        self._per_user = per_user
        self._answer = answer
        self._asked: dict[int, int] = dict.fromkeys(users, 0)
        self._waiting: dict[int, str] = {}  # user -> text the answer must contain
        self.total = len(users) * per_user
        self.answered = 0
        self.started = 0.0
        self.last_answer = 0.0
        self.done = asyncio.Event()

    async def run(self) -> float:
        """Ask everything; returns the seconds from the first question to the last answer."""
        self._telegram.listener = self._on_message
        try:
            self.started = time.perf_counter()
            for user in self._users:
                self._ask(user)
            async with asyncio.timeout(RUN_TIMEOUT):
                await self.done.wait()
        except TimeoutError:
            raise RuntimeError(
                f"{self.answered} of {self.total} answers in {RUN_TIMEOUT:.0f} s"
            ) from None
        finally:
            self._telegram.listener = None
        return self.last_answer - self.started

    def _ask(self, user: int) -> None:
        self._asked[user] += 1
        question = f"question {user}-{self._asked[user]}."
        self._waiting[user] = self._answer(question)
        self._telegram.user_message(user, question)

    def _on_message(self, chat_id: int, text: str) -> None:
        expected = self._waiting.get(chat_id)
        if expected is None or expected not in text:
            return
        del self._waiting[chat_id]
        self.answered += 1
        self.last_answer = time.perf_counter()
        if self._asked[chat_id] < self._per_user:
            self._ask(chat_id)
        elif self.answered == self.total:
            self.done.set()


class OpenLoop:
    """Users who each send `per_user` messages at once, without waiting for answers.

    A message counts as answered once its text appears in an answer in its chat: this
    bot may answer messages that queued up together in one answer.
    """

    def __init__(self, telegram: BenchTelegram, users: Sequence[int], per_user: int) -> None:
        self._telegram = telegram
        self._open: dict[int, list[str]] = {
            user: [f"burst {user}-{n}." for n in range(1, per_user + 1)] for user in users
        }
        self.total = len(users) * per_user
        self.answered = 0
        self.last_answer = 0.0
        self.done = asyncio.Event()

    async def run(self) -> float:
        """Send everything; returns the seconds until every message was answered."""
        self._telegram.listener = self._on_message
        try:
            started = time.perf_counter()
            for user, questions in self._open.items():
                for question in questions:
                    self._telegram.user_message(user, question)
            async with asyncio.timeout(RUN_TIMEOUT):
                await self.done.wait()
        except TimeoutError:
            raise RuntimeError(
                f"{self.answered} of {self.total} messages answered in {RUN_TIMEOUT:.0f} s"
            ) from None
        finally:
            self._telegram.listener = None
        return self.last_answer - started

    def _on_message(self, chat_id: int, text: str) -> None:
        questions = self._open.get(chat_id)
        if not questions:
            return
        remaining = [question for question in questions if question not in text]
        if len(remaining) < len(questions):
            self.answered += len(questions) - len(remaining)
            self._open[chat_id] = remaining
            self.last_answer = time.perf_counter()
            if self.answered == self.total:
                self.done.set()


@dataclass
class StandIns:
    telegram: BenchTelegram
    llm: FakeOpenAI


@contextlib.asynccontextmanager
async def stand_ins(model_delay: float = 0.0) -> AsyncIterator[StandIns]:
    """A fresh emulator and a fresh model that answers at once (or after `model_delay`)."""
    telegram = BenchTelegram()
    llm = FakeOpenAI(API_KEY)
    llm.reply = echo_reply  # "Echo: <question>", short
    llm.chunk_size = 4096  # the whole reply in one chunk
    llm.delay_first = model_delay
    await telegram.start()
    try:
        await llm.start()
        try:
            yield StandIns(telegram, llm)
        finally:
            await llm.stop()
    finally:
        await telegram.stop()


def bot_environment(services: StandIns, data_dir: Path) -> dict[str, str]:
    """The same environment for every bot: the stand-ins only, no real keys."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and not key.startswith("YMONEY")
    }
    env.update(
        {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": services.telegram.base_url,
            "DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "WEB_PORT": "0",  # no /health server: only polling is measured
        }
    )
    env.pop("STREAM_EDIT_INTERVAL", None)  # the production default
    for name in PROVIDER_NAMES:
        env[f"{name.upper()}_API_KEY"] = API_KEY
        env[f"{name.upper()}_BASE_URL"] = services.llm.base_url
    return env


class BotProcess:
    """A bot started as `python ARGV...`; output goes to `log_path`."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @classmethod
    async def spawn(cls, argv: Sequence[str], env: dict[str, str], log_path: Path) -> BotProcess:
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *argv,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        return cls(process, log_path)

    async def wait_polling(self, telegram: FakeTelegram) -> None:
        """Until the bot long-polls the (fresh) emulator."""
        deadline = time.monotonic() + START_TIMEOUT
        while telegram.pollers == 0:
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start polling:\n{self.log_tail()}")
            await asyncio.sleep(0.02)

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far (Linux /proc)."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    async def stop(self) -> None:
        """SIGTERM (a graceful stop), then SIGKILL if it takes too long."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def log_tail(self, size: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-size:]


@contextlib.asynccontextmanager
async def running_bot(
    spec: BotSpec, services: StandIns, workdir: Path, argv_prefix: Sequence[str] = ()
) -> AsyncIterator[BotProcess]:
    """The bot, started against `services` with its own DATA_DIR; always stopped."""
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=workdir))
    env = bot_environment(services, data_dir)
    log_path = data_dir.with_suffix(".log")
    bot = await BotProcess.spawn([*argv_prefix, *spec.argv], env, log_path)
    try:
        await bot.wait_polling(services.telegram)
        yield bot
    finally:
        await bot.stop()


@dataclass(frozen=True)
class Measurement:
    messages: int
    seconds: float
    bot_cpu: float  # CPU seconds of the bot process during the timed load
    driver_cpu: float  # CPU seconds of this process (emulator, model, driver)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def measure(
    spec: BotSpec, services: StandIns, bot: BotProcess, users: int, per_user: int
) -> Measurement:
    """A short untimed warm-up, then the timed closed-loop load."""
    warmup = range(FIRST_USER - WARMUP_USERS, FIRST_USER)
    timed = ClosedLoop(
        services.telegram, range(FIRST_USER, FIRST_USER + users), per_user, spec.answer
    )
    try:
        await ClosedLoop(services.telegram, warmup, 2, spec.answer).run()
        bot_cpu, driver_cpu = bot.cpu_seconds(), time.process_time()
        seconds = await timed.run()
    except RuntimeError as error:
        raise RuntimeError(f"{spec.name}: {error}\n{bot.log_tail()}") from None
    return Measurement(
        timed.total, seconds, bot.cpu_seconds() - bot_cpu, time.process_time() - driver_cpu
    )


async def benchmark(
    spec: BotSpec, users: int, per_user: int, workdir: Path, argv_prefix: Sequence[str] = ()
) -> Measurement:
    async with (
        stand_ins() as services,
        running_bot(spec, services, workdir, argv_prefix) as bot,
    ):
        return await measure(spec, services, bot, users, per_user)


async def burst(workdir: Path) -> tuple[float, int]:
    """Seconds until this bot has answered BURST_USERS users who all wrote at once,
    with a model that takes BURST_DELAY seconds."""
    async with (
        stand_ins(model_delay=BURST_DELAY) as services,
        running_bot(OURS, services, workdir) as bot,
    ):
        warmup = range(FIRST_USER - WARMUP_USERS, FIRST_USER)
        users = range(FIRST_USER, FIRST_USER + BURST_USERS)
        try:
            await ClosedLoop(services.telegram, warmup, 1, OURS.answer).run()
            seconds = await ClosedLoop(services.telegram, users, 1, OURS.answer).run()
        except RuntimeError as error:
            raise RuntimeError(f"burst: {error}\n{bot.log_tail()}") from None
        return seconds, services.llm.max_active


async def open_loop(spec: BotSpec, workdir: Path, users: int, per_user: int) -> Measurement:
    """Every user sends all their messages at once; the instant model answers."""
    async with stand_ins() as services, running_bot(spec, services, workdir) as bot:
        warmup = range(FIRST_USER - WARMUP_USERS, FIRST_USER)
        load = OpenLoop(services.telegram, range(FIRST_USER, FIRST_USER + users), per_user)
        try:
            await ClosedLoop(services.telegram, warmup, 1, spec.answer).run()
            bot_cpu, driver_cpu = bot.cpu_seconds(), time.process_time()
            seconds = await load.run()
        except RuntimeError as error:
            raise RuntimeError(f"open loop, {spec.name}: {error}\n{bot.log_tail()}") from None
        return Measurement(
            load.total, seconds, bot.cpu_seconds() - bot_cpu, time.process_time() - driver_cpu
        )


def print_table(results: dict[BotSpec, Measurement]) -> None:
    echo, minimal = results[ECHO].rate, results[MINIMAL].rate
    aiohttp_minimal = results[MINIMAL_AIOHTTP].rate
    header = (
        f"{'bot':<26} {'messages':>8} {'seconds':>8} {'msg/s':>8} {'vs echo':>8} "
        f"{'vs minimal':>10} {'vs min. aiohttp':>15} {'bot CPU ms/msg':>14} "
        f"{'stand-ins CPU':>13}"
    )
    print(header)
    print("-" * len(header))
    for spec, result in results.items():
        print(
            f"{spec.name:<26} {result.messages:>8} {result.seconds:>8.2f} {result.rate:>8.0f} "
            f"{result.rate / echo:>8.2f} {result.rate / minimal:>10.2f} "
            f"{result.rate / aiohttp_minimal:>15.2f} "
            f"{1000 * result.bot_cpu / result.messages:>14.2f} "
            f"{result.driver_cpu / result.seconds:>13.0%}"
        )


async def run_all(
    users: int, per_user: int, repeats: int, workdir: Path, bots: Sequence[BotSpec] = BOTS
) -> None:
    print(
        f"{users} users x {per_user} messages, closed loop, instant model; "
        f"best of {repeats} run(s); {os.cpu_count()} CPUs"
    )
    best: dict[BotSpec, Measurement] = {}
    for _ in range(repeats):
        for spec in bots:
            result = await benchmark(spec, users, per_user, workdir)
            if spec not in best or result.seconds < best[spec].seconds:
                best[spec] = result
    print()
    print_table(best)
    print(
        "bot CPU: user+system CPU time of the bot process per message; "
        "stand-ins CPU: this process (emulator, model, driver), share of one core"
    )
    print()
    print(
        f"{OPEN_USERS} users x {OPEN_MESSAGES} messages sent at once (open loop, instant "
        "model): every message answered"
    )
    opened = {spec: await open_loop(spec, workdir, OPEN_USERS, OPEN_MESSAGES) for spec in bots}
    print_table(opened)
    ours_closed, ours_open = best[OURS].rate, opened[OURS].rate
    print(
        f"this bot: open loop {ours_open:.0f} msg/s, {ours_open / ours_closed:.2f}x its closed loop"
    )
    for other in bots[len(BOTS) :]:
        print(
            f"this bot / {other.name}: closed loop {ours_closed / best[other].rate:.2f}x, "
            f"open loop {ours_open / opened[other].rate:.2f}x the messages per second"
        )
    seconds, concurrent = await burst(workdir)
    print()
    print(
        f"{BURST_USERS} users at once, model answering in {BURST_DELAY:.0f} s: "
        f"all answered in {seconds:.2f} s (at most {concurrent} model requests at a time)"
    )


async def profile(users: int, per_user: int, workdir: Path, top: int) -> None:
    """This bot once under cProfile; prints the top entries by cumulative time."""
    output = workdir / "bot.prof"
    result = await benchmark(
        OURS, users, per_user, workdir, argv_prefix=("-m", "cProfile", "-o", str(output))
    )
    print(f"{OURS.name} under cProfile: {result.messages} messages in {result.seconds:.2f} s")
    if not output.exists():
        raise RuntimeError("the bot did not write its profile (did it exit gracefully?)")
    print("The profile covers the whole process: start-up (imports, pydantic schemas) too.")
    stats = pstats.Stats(str(output)).strip_dirs()
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(NOT_IMPORTS, top)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(NOT_IMPORTS, top)


async def stopping_on_sigterm(job: Coroutine[Any, Any, None]) -> None:
    """Run `job`; SIGTERM cancels it like Ctrl-C does, so every bot is still stopped."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="simultaneous users (default 50)")
    parser.add_argument(
        "--messages-per-user", type=int, default=20, help="messages each user sends (default 20)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per bot; the best counts")
    parser.add_argument(
        "--profile", action="store_true", help="profile this bot with cProfile instead"
    )
    parser.add_argument("--top", type=int, default=30, help="profile entries to print")
    parser.add_argument(
        "--against", type=Path, help="another checkout whose bot.py runs in the same loads"
    )
    args = parser.parse_args()
    bots: tuple[BotSpec, ...] = BOTS
    if args.against is not None:
        other = args.against.resolve()
        if not (other / "bot.py").is_file():
            parser.error(f"--against: no bot.py in {other}")
        bots = (*BOTS, BotSpec(f"bot.py at {other.name}", (str(other / "bot.py"),), model_answer))
    if args.users < 1 or args.messages_per_user < 1 or args.repeats < 1:
        parser.error("--users, --messages-per-user and --repeats must be positive")
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as workdir:
        if args.profile:
            job = profile(args.users, args.messages_per_user, Path(workdir), args.top)
        else:
            job = run_all(args.users, args.messages_per_user, args.repeats, Path(workdir), bots)
        try:
            asyncio.run(stopping_on_sigterm(job))
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise SystemExit("interrupted; the bots were stopped") from None


if __name__ == "__main__":
    main()
