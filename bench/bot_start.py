"""One start of the real `python bot.py` on a DATA_DIR: time to its first getUpdates and
its idle memory, against the Bot API emulator and the OpenAI stand-in of tests/stubs.

    measure_bot_start(project_root, data_dir, log_path) -> {"startup_s", "rss_idle_mb", ...}

Used by bench/storage_benchmark.py (its "bot.py" rows). The stand-ins come from this
checkout; `project_root` is the code under test (another checkout may be measured).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the stand-ins are imported from this checkout
    sys.path.append(str(ROOT))

from tests.stubs.openai_server import FakeOpenAI  # noqa: E402
from tests.stubs.telegram_server import FakeTelegram  # noqa: E402

TOKEN = "123456:BENCH-storage-token"
API_KEY = "sk-bench"
PROVIDERS = ("OPENAI", "OPENROUTER", "DEEPSEEK", "GEMINI", "XAI", "PERPLEXITY", "QWEN")
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
START_TIMEOUT = 600.0  # seconds; the previous version converted L in about 40 s
IDLE_SETTLE = 3.0  # seconds after the first getUpdates: background loops do their first round
RSS_STEADY_MB = 1.0  # idle once two readings IDLE_STEP apart differ by less than this
IDLE_STEP = 1.0
IDLE_MAX = 20.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status_mb(pid: int, field: str) -> float:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bot_environment(telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in KEPT_ENV if name in os.environ}
    env.update(
        BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.base_url,
        DATA_DIR=str(data_dir),
        ADMIN_IDS="111111111",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(free_port()),
    )
    for name in PROVIDERS:
        env[f"{name}_API_KEY"] = API_KEY
        env[f"{name}_BASE_URL"] = llm.base_url
    return env


async def idle_rss_mb(pid: int) -> float:
    """VmRSS once it stops moving (at most IDLE_MAX seconds after IDLE_SETTLE)."""
    await asyncio.sleep(IDLE_SETTLE)
    previous = proc_status_mb(pid, "VmRSS")
    deadline = time.monotonic() + IDLE_MAX
    while time.monotonic() < deadline:
        await asyncio.sleep(IDLE_STEP)
        current = proc_status_mb(pid, "VmRSS")
        if abs(current - previous) < RSS_STEADY_MB:
            return current
        previous = current
    return previous


async def _measure(project_root: Path, data_dir: Path, log_path: Path) -> dict[str, Any]:
    telegram, llm = FakeTelegram(TOKEN), FakeOpenAI(API_KEY)
    telegram.record_calls = False
    await telegram.start()
    await llm.start()
    process: asyncio.subprocess.Process | None = None
    try:
        env = bot_environment(telegram, llm, data_dir)
        with log_path.open("wb") as log:
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "bot.py",
                cwd=project_root,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        while telegram.pollers == 0:
            if process.returncode is not None:
                return {"error": f"bot.py exited with {process.returncode}; see {log_path}"}
            if time.monotonic() - started > START_TIMEOUT:
                return {"error": f"bot.py did not poll in {START_TIMEOUT:g} s; see {log_path}"}
            await asyncio.sleep(0.01)
        result: dict[str, Any] = {"startup_s": time.monotonic() - started}
        result["rss_idle_mb"] = await idle_rss_mb(process.pid)
        result["rss_peak_mb"] = proc_status_mb(process.pid, "VmHWM")
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        result["exit_code"] = await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        result["shutdown_s"] = time.monotonic() - stopping
        return result
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await llm.stop()
        await telegram.stop()


def measure_bot_start(project_root: Path, data_dir: Path, log_path: Path) -> dict[str, Any]:
    """Spawn `python bot.py` in `project_root` on `data_dir`; the wall time until its first
    getUpdates, idle and peak RSS, then SIGTERM (it must exit 0)."""
    return asyncio.run(_measure(project_root, data_dir, log_path))
