"""End-to-end harness: the real `python bot.py` against the local stand-ins."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram
from tests.stubs.yoomoney_server import FakeYooMoney

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-e2e-token"
ADMIN = 1000
PROVIDERS = ("OPENAI", "OPENROUTER", "DEEPSEEK", "GEMINI", "XAI", "PERPLEXITY", "QWEN")


class BotProcess:
    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()

    async def wait(self, timeout: float = 15) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


StartBot = Callable[..., Awaitable[BotProcess]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def yoomoney() -> AsyncIterator[FakeYooMoney]:
    server = FakeYooMoney()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def start_bot(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path, tmp_path: Path
) -> AsyncIterator[StartBot]:
    """Start `python bot.py`; returns once it polls. Call again to restart on the same data."""
    started: list[BotProcess] = []

    async def start(env: dict[str, str | None] | None = None) -> BotProcess:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.endswith(("_API_KEY", "_BASE_URL")) and not key.startswith("YMONEY")
        }
        environment.update(
            {
                "BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": telegram.base_url,
                "DATA_DIR": str(data_dir),
                "ADMIN_IDS": str(ADMIN),
                "LOG_LEVEL": "DEBUG",
                "STREAM_EDIT_INTERVAL": "0.3",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name in PROVIDERS:
            environment[f"{name}_API_KEY"] = "sk-test"
            environment[f"{name}_BASE_URL"] = llm.base_url
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        log_path = tmp_path / f"bot-{len(started)}.log"
        log = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "bot.py", cwd=ROOT, env=environment, stdout=log, stderr=log
        )
        bot = BotProcess(process, log_path)
        started.append(bot)
        pollers = telegram.pollers
        try:
            await telegram.wait_for(
                lambda: telegram.pollers > pollers or process.returncode is not None, timeout=20
            )
        except AssertionError:
            raise AssertionError(f"bot did not start polling:\n{bot.log_text()}") from None
        if process.returncode is not None:
            raise AssertionError(f"bot exited with {process.returncode}:\n{bot.log_text()}")
        return bot

    yield start
    for bot in started:
        bot.kill()
        if bot.process.returncode is None:
            await bot.wait()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        tmp = item.funcargs.get("tmp_path") if hasattr(item, "funcargs") else None
        if isinstance(tmp, Path):
            for log in sorted(tmp.glob("bot-*.log")):
                report.sections.append(
                    (f"bot log {log.name}", log.read_text(errors="replace")[-20000:])
                )
