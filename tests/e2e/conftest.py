"""End-to-end harness: the real `python bot.py` against the local stand-ins.

Fixtures (the stand-ins `telegram`, `llm` and `yoomoney` come from tests/conftest.py):
`data_dir`, and `bot_process` (alias `start_bot`): a factory that starts the bot and
returns once that very process polls. Call it again to restart on the same DATA_DIR;
the emulators keep their state.

Each start is a process of its own, forked from an interpreter that has already imported
what bot.py imports (tests/e2e/prestart.py: 0.3 s instead of 3 s a start). Tests marked
`real_start`, starts with PYTHON* variables of their own, and every start when
E2E_PRESTART=0 run `python bot.py` itself. With E2E_REDIS=1 every bot of a test shares
state in the test Redis (REDIS_URL, under a prefix of the test's own, deleted after): the
same tests then check the Redis implementations behave as the in-memory ones.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

from edge.callbacks import ModelChoice
from services.catalog import Catalog, load_catalog
from services.storage.json_store import read_live_records
from tests.conftest import REDIS_URL, TEST_KEY, delete_prefix, redis_client, unique_prefix
from tests.e2e.prestart import PrestartServer
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
ADMIN = 1000
PROVIDERS = ("OPENAI", "OPENROUTER", "DEEPSEEK", "GEMINI", "XAI", "PERPLEXITY", "QWEN")
START_TIMEOUT = 20.0


class Process(Protocol):
    """What a test drives of a process: asyncio's, or one forked by the prestart server."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...
    async def wait(self) -> int: ...


class BotProcess:
    """A running `bot.py`; its stdout and stderr go to `log_path`."""

    def __init__(self, process: Process, log_path: Path, env: dict[str, str]) -> None:
        self.process = process
        self.log_path = log_path
        self.env = env
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def terminate(self) -> None:
        """SIGTERM: the bot should stop polling, finish work in flight and exit 0."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, like `kill -9`."""
        if self.process.returncode is None:
            self.process.kill()

    async def wait(self, timeout: float = 15) -> int:
        """The exit code; raises TimeoutError (after printing the log) if still running."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            print(f"bot {self.pid} still running after {timeout} s:\n{self.log_text()[-5000:]}")
            raise

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class StartBot(Protocol):
    def __call__(
        self,
        env: Mapping[str, str | None] | None = None,
        *,
        admin_ids: Iterable[int] = (ADMIN,),
        wait_polling: bool = True,
        timeout: float = START_TIMEOUT,
    ) -> Awaitable[BotProcess]: ...


@functools.cache
def catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.toml")


def model_choice(name: str) -> ModelChoice:
    """The /model menu's button for the model the catalog names `name`."""
    (key,) = [model.key for model in catalog().models if model.name == name]
    return ModelChoice(key=key)


def money_records(data_dir: Path, table: str) -> list[dict[str, Any]]:
    """A money table's live records as on disk now (snapshot plus journal)."""
    return list(read_live_records(data_dir)[table].values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def _local_ports_of(pid: int) -> set[int] | None:
    """TCP ports of the process's IPv4 sockets (Linux /proc); None where unknown."""
    try:
        inodes = _socket_inodes(pid)
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    ports = set()
    for line in table:
        fields = line.split()
        if len(fields) > 9 and fields[9] in inodes:
            ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def _polls_from(telegram: FakeTelegram, bot: BotProcess, calls_before: int) -> bool:
    """Whether the emulator has seen getUpdates from this very process."""
    recent = [port for port, at in telegram.poll_ports.items() if at >= bot.started]
    if not recent:
        return False
    ports = _local_ports_of(bot.pid)
    if ports is None:  # no /proc: any new poller counts
        return telegram.pollers > calls_before
    return any(port in ports for port in recent)


def bot_environment(
    telegram: FakeTelegram,
    llm: FakeOpenAI,
    data_dir: Path,
    admin_ids: Iterable[int] = (ADMIN,),
    overrides: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """The bot's environment: this process's, less any real keys and proxies, plus the
    stand-ins.

    The web server (/health) listens on 127.0.0.1 and a free port, in `env["WEB_PORT"]`,
    unless the overrides name WEB_PORT or NOTIFICATION_PORT.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL"))
        and not key.upper().endswith("_PROXY")  # OPENAI_PROXY..., also http_proxy
        and not key.startswith(("YMONEY", "WEB_", "NOTIFICATION_"))
    }
    env.update(
        {
            "BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.base_url,
            "DATA_DIR": str(data_dir),
            "ADMIN_IDS": ",".join(str(i) for i in admin_ids),
            "LOG_LEVEL": "DEBUG",
            "STREAM_EDIT_INTERVAL": "0.3",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in PROVIDERS:
        env[f"{name}_API_KEY"] = TEST_KEY
        env[f"{name}_BASE_URL"] = llm.base_url
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    overridden = set(overrides or {})
    if not overridden & {"WEB_HOST", "NOTIFICATION_HOST"}:
        env["WEB_HOST"] = "127.0.0.1"
    if not overridden & {"WEB_PORT", "NOTIFICATION_PORT"}:
        env["WEB_PORT"] = str(free_port())
    return env


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_start: every start of the test is a fresh `python bot.py`"
    )


@pytest.fixture(scope="session")
def prestart(tmp_path_factory: pytest.TempPathFactory) -> Generator[PrestartServer | None]:
    """The pre-started interpreter of this test session (None with E2E_PRESTART=0)."""
    if os.environ.get("E2E_PRESTART", "1") == "0":
        yield None
        return
    server = PrestartServer(ROOT, tmp_path_factory.mktemp("prestart") / "socket")
    yield server
    server.close()


@pytest.fixture
async def bot_process(
    telegram: FakeTelegram,
    llm: FakeOpenAI,
    data_dir: Path,
    tmp_path: Path,
    prestart: PrestartServer | None,
    request: pytest.FixtureRequest,
) -> AsyncIterator[StartBot]:
    """Start `python bot.py`; returns once it polls. Call again to restart on the same data.

    `env` overrides the environment (None removes a variable).
    """
    started: list[BotProcess] = []
    fresh_only = request.node.get_closest_marker("real_start") is not None
    shared: dict[str, str | None] = {}
    if os.environ.get("E2E_REDIS") == "1":
        shared = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": unique_prefix()}

    async def spawn(environment: dict[str, str], log_path: Path) -> Process:
        if prestart is not None and not fresh_only and prestart.serves(environment):
            return await prestart.start("bot.py", [], environment, ROOT, log_path)
        with log_path.open("wb") as log:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "bot.py",
                cwd=ROOT,
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def start(
        env: Mapping[str, str | None] | None = None,
        *,
        admin_ids: Iterable[int] = (ADMIN,),
        wait_polling: bool = True,
        timeout: float = START_TIMEOUT,
    ) -> BotProcess:
        environment = bot_environment(telegram, llm, data_dir, admin_ids, {**shared, **(env or {})})
        log_path = tmp_path / f"bot-{len(started)}.log"
        process = await spawn(environment, log_path)
        bot = BotProcess(process, log_path, environment)
        started.append(bot)
        if not wait_polling:
            return bot
        calls_before = telegram.pollers
        deadline = time.monotonic() + timeout
        while not _polls_from(telegram, bot, calls_before):
            if process.returncode is not None:
                raise AssertionError(f"bot exited with {process.returncode}:\n{bot.log_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"bot did not start polling in {timeout} s:\n{bot.log_text()}")
            await asyncio.sleep(0.02)
        return bot

    yield start
    for bot in started:
        bot.kill()
        await bot.process.wait()
    if shared.get("REDIS_PREFIX"):
        client = await redis_client()
        await delete_prefix(client, str(shared["REDIS_PREFIX"]))
        await client.aclose()


@pytest.fixture
def start_bot(bot_process: StartBot) -> StartBot:
    """The same factory as `bot_process`."""
    return bot_process


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with the bot logs and the emulator's state."""
    report = yield
    if report.failed:
        funcargs: dict[str, Any] = getattr(item, "funcargs", {})
        tmp = funcargs.get("tmp_path")
        if isinstance(tmp, Path):
            for log in sorted(tmp.glob("bot-*.log")):
                text = log.read_text(errors="replace")
                report.sections.append((f"bot log {log.name} ({report.when})", text[-20000:]))
        server = funcargs.get("telegram")
        if isinstance(server, FakeTelegram):
            report.sections.append((f"emulator ({report.when})", server.dump()))
    return report
