"""Start-up a newcomer can trust: the real `python bot.py`, each way it can go.

A wrong setting or a token Telegram rejects stops it with one line and exit code 2;
Telegram unreachable (at start or while polling) is retried with one log line per
change; `GET /health` tells the state; `--check` checks without contacting Telegram.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config import token_problem
from tests.conftest import TEST_KEY
from tests.e2e.conftest import (
    ADMIN,
    ROOT,
    BotProcess,
    StartBot,
    bot_environment,
    free_port,
)
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

pytestmark = pytest.mark.real_start  # the start itself is what these check

USER = 501
# Output that must never appear: a traceback, or an aiohttp session left open.
NEVER = ("Traceback", "Unclosed client session", "Unclosed connector", "ResourceWarning")
# Unclosed sockets and transports would print a ResourceWarning to stderr.
WARNINGS = {"PYTHONWARNINGS": "always::ResourceWarning"}


def example_token() -> str:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("BOT_TOKEN="):
            return line.partition("=")[2].strip()
    raise AssertionError(".env.example has no BOT_TOKEN line")


async def run_once(
    telegram: FakeTelegram,
    llm: FakeOpenAI,
    data_dir: Path,
    env: Mapping[str, str | None],
    *args: str,
    timeout: float = 60,
) -> tuple[int, str, str]:
    """Run `python bot.py *args` to its end: (exit code, stdout, stderr)."""
    environment = bot_environment(telegram, llm, data_dir, overrides={**WARNINGS, **env})
    return await run_in(ROOT, environment, *args, timeout=timeout)


async def run_in(
    cwd: Path, environment: Mapping[str, str], *args: str, timeout: float = 60
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        *args,
        cwd=cwd,
        env=dict(environment),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


def assert_clean(text: str) -> None:
    for bad in NEVER:
        assert bad not in text, f"{bad!r} in the output:\n{text}"


async def get_health(bot: BotProcess) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{bot.env['WEB_PORT']}/health"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def wait_health(bot: BotProcess, status: int, timeout: float = 30) -> dict[str, Any]:
    """The /health body once it answers `status` (the server may still be starting)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            code, body = await get_health(bot)
        except aiohttp.ClientConnectionError as error:
            last = error
        else:
            if code == status:
                return body
            last = (code, body)
        assert bot.returncode is None, f"bot exited:\n{bot.log_text()}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"/health never answered {status}; last: {last}\n{bot.log_text()}")


async def wait_log(bot: BotProcess, text: str, timeout: float = 30) -> None:
    """Until the bot logs `text` (a fresh interpreter on a loaded machine may take 15 s)."""
    deadline = time.monotonic() + timeout
    while text not in bot.log_text():
        assert bot.returncode is None, f"bot exited:\n{bot.log_text()}"
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{bot.log_text()}"
        await asyncio.sleep(0.05)


async def stop_cleanly(bot: BotProcess) -> None:
    bot.process.send_signal(signal.SIGTERM)
    assert await bot.wait(15) == 0
    assert_clean(bot.log_text())


# --- wrong settings: one line, exit 2 ---------------------------------------------------


async def test_untouched_env_example_stops_with_one_line(tmp_path: Path) -> None:
    """A newcomer's first run: .env copied from .env.example, nothing filled in."""
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    clean = {"PATH": os.environ.get("PATH", ""), **WARNINGS}  # settings from .env only
    runs = await asyncio.gather(run_in(tmp_path, clean), run_in(tmp_path, clean, "--check"))
    for code, out, err in runs:  # `python bot.py` and `python bot.py --check`
        assert code == 2 and not out
        assert one_line(err) == (
            "Configuration error: BOT_TOKEN is still the example value; "
            "put the token from @BotFather (123456789:AAH...)"
        )
    assert [path.name for path in tmp_path.iterdir()] == [".env"]  # no ./data created


def filled_example(token: str) -> str:
    """.env.example as the README says a newcomer fills it: only BOT_TOKEN, ADMIN_IDS and
    OPENAI_API_KEY, every other line exactly as shipped (empty values included)."""
    values = {"BOT_TOKEN": token, "ADMIN_IDS": str(ADMIN), "OPENAI_API_KEY": TEST_KEY}
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        name = line.partition("=")[0]
        lines.append(f"{name}={values[name]}" if name in values else line)
    return "\n".join(lines) + "\n"


async def test_env_example_with_the_three_readme_values_starts_the_bot(
    telegram: FakeTelegram, llm: FakeOpenAI, tmp_path: Path
) -> None:
    """The README's set-up: copy .env.example to .env, fill in three values, start. Only
    the addresses of the stand-ins (Telegram, OpenAI) and a free web port come from the
    environment; every other setting, DATA_DIR included, is the example's."""
    (tmp_path / ".env").write_text(filled_example(telegram.token))
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "TELEGRAM_API_URL": telegram.base_url,
        "OPENAI_BASE_URL": llm.base_url,
        "WEB_PORT": str(free_port()),
        **WARNINGS,
    }
    code, out, err = await run_in(tmp_path, environment, "--check")
    assert (code, err) == (0, ""), err
    assert one_line(out).startswith("OK: settings, catalog (")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        cwd=tmp_path,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        telegram.user_message(USER, "/start")
        await telegram.wait_for_message(USER, timeout=20)
        telegram.user_message(USER, "Привет")
        await telegram.wait_for_message(USER, contains="Echo: Привет", timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        out_bytes, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, out_bytes.decode()
    assert_clean(out_bytes.decode())
    assert (tmp_path / "data" / "users" / f"{USER}.json").exists()  # the example's DATA_DIR


async def test_malformed_token_stops_with_one_line(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path
) -> None:
    token = "123456789:AAH pasted with a space"
    code, out, err = await run_once(telegram, llm, data_dir, {"BOT_TOKEN": token})
    assert code == 2 and not out
    line = one_line(err)
    assert line.startswith("Configuration error: BOT_TOKEN contains a space")
    assert "pasted" not in line  # the token itself is never printed
    assert not telegram.method_counts and not telegram.unauthorized  # Telegram not asked
    assert not data_dir.exists()  # nor DATA_DIR touched


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("", "is empty"),
        (example_token(), "is still the example value"),
        ("123456789", "has no ':'"),
        ("123456789:", "misses the part after ':'"),
        (":AAH", "must start with the bot's numeric id"),
        ("12345x:AAH", "must start with the bot's numeric id"),
        ("bot123456789:AAH", "starts with 'bot'"),
        ('"123456789:AAH"', "is in quotes"),
        ("123456789:AAH\tBBB", "contains a space or line break"),
        ("123456789:AAH/BBB", "contains '/'"),
        ("123456789:AAHБBB", "contains 'Б'"),
    ],
)
def test_token_rule_names_the_mistake(token: str, expected: str) -> None:
    """The rule behind the line above (what `python bot.py` prints for each)."""
    problem = token_problem(token)
    assert problem is not None and problem.startswith(expected)


@pytest.mark.parametrize(
    "token",
    [
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",  # the shape @BotFather gives
        "123456:TEST-e2e-token",  # the test tokens
        "42:TEST",
    ],
)
def test_token_rule_accepts_tokens_of_the_right_shape(token: str) -> None:
    assert token_problem(token) is None


async def test_token_telegram_rejects_stops_with_one_line(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path
) -> None:
    wrong = "123456:TEST-e2e-revoked"  # well formed, not the emulator's token
    code, out, err = await run_once(
        telegram, llm, data_dir, {"BOT_TOKEN": wrong, "LOG_LEVEL": "INFO"}
    )
    assert code == 2
    # At the default log level this is all the output there is.
    line = one_line(out + err)
    assert line.startswith("Configuration error: BOT_TOKEN was rejected by Telegram (Unauthorized)")
    assert "has 16 characters where a token from @BotFather has 35" in line
    assert wrong not in line and "TEST-e2e" not in line
    assert_clean(out + err)
    assert telegram.unauthorized == ["getMe"]  # the first call, then nothing


async def test_web_port_in_use_stops_with_one_line(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await run_once(
            telegram, llm, data_dir, {"WEB_PORT": str(port), "LOG_LEVEL": "WARNING"}
        )
    assert code == 2
    line = one_line(out + err)
    assert line.startswith(f"Configuration error: WEB_PORT: cannot listen on 127.0.0.1:{port}")
    assert "0 to turn the web server off" in line
    assert_clean(out + err)
    assert telegram.pollers == 0


# --- Telegram unreachable: retried, one line per change, /health tells ------------------


async def test_unreachable_at_start_retries_then_recovers(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await telegram.stop()  # its port is now closed: connection refused
    bot = await start_bot(WARNINGS, wait_polling=False)
    await wait_log(bot, "Telegram unreachable")
    body = await wait_health(bot, 503)
    assert body["status"] == "telegram_unreachable"
    assert body["last_poll_seconds_ago"] is None
    assert body["telegram_error"] == "TelegramNetworkError"
    await asyncio.sleep(2.0)  # two more retries (backoff 1 s, 1.3 s, ...)
    log = bot.log_text()
    assert bot.returncode is None
    assert log.count("Telegram unreachable") == 1, log
    assert "Connect call failed" in log or "Cannot connect" in log
    assert_clean(log)

    await telegram.start(telegram.port)  # Telegram is back on the same address
    await wait_log(bot, "Telegram reachable again")
    body = await wait_health(bot, 200)
    assert body["status"] == "ok"
    telegram.user_message(USER, "/start")
    await telegram.wait_for(lambda: telegram.messages(USER))
    log = bot.log_text()
    assert log.count("Telegram unreachable") == 1 and log.count("reachable again") == 1
    assert "Failed to fetch updates" not in log
    await stop_cleanly(bot)


async def test_sigterm_while_waiting_for_telegram_exits_cleanly(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await telegram.stop()
    bot = await start_bot(WARNINGS, wait_polling=False)
    await wait_log(bot, "Telegram unreachable")
    started = time.monotonic()
    await stop_cleanly(bot)
    assert time.monotonic() - started < 3
    assert "Stopped before polling started" in bot.log_text()


async def test_health_while_polling_and_during_an_outage(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(WARNINGS)
    body = await wait_health(bot, 200)
    assert body["status"] == "ok"
    assert body["storage_writable"] is True
    assert body["telegram_error"] is None
    assert 0 <= body["last_poll_seconds_ago"] < 5
    assert 0 <= body["uptime_seconds"] < 30

    await telegram.stop()  # Telegram goes away while the bot polls
    body = await wait_health(bot, 503)
    assert body["status"] == "telegram_unreachable"
    await asyncio.sleep(2.0)  # retries of getUpdates (backoff 1 s, 1.3 s, ...)
    log = bot.log_text()
    assert log.count("Telegram unreachable") == 1, log
    for per_retry in ("Failed to fetch updates", "Sleep for", "Connection established"):
        assert per_retry not in log
    assert bot.returncode is None

    await telegram.start(telegram.port)
    body = await wait_health(bot, 200)
    assert body["status"] == "ok" and body["last_poll_seconds_ago"] < 2
    log = bot.log_text()
    assert log.count("Telegram unreachable") == 1 and log.count("Telegram reachable again") == 1
    telegram.user_message(USER, "/start")
    await telegram.wait_for(lambda: telegram.messages(USER))
    await stop_cleanly(bot)


async def test_health_reports_storage_not_writable(
    start_bot: StartBot, data_dir: Path, tmp_path: Path
) -> None:
    bot = await start_bot()
    moved = tmp_path / "moved"
    data_dir.rename(moved)
    data_dir.write_text("not a directory")  # DATA_DIR cannot take a file now
    try:
        code, body = await get_health(bot)
    finally:
        data_dir.unlink()
        moved.rename(data_dir)
    assert code == 503
    assert body["status"] == "storage_not_writable" and body["storage_writable"] is False
    assert not list(data_dir.glob(".health-*"))


# --- python bot.py --check ----------------------------------------------------------------


async def test_check_passes_on_a_good_setup_without_contacting_telegram(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path
) -> None:
    data_dir.mkdir()
    code, out, err = await run_once(telegram, llm, data_dir, {}, "--check")
    assert (code, err) == (0, "")
    line = one_line(out)
    assert line.startswith("OK: settings, catalog (") and "0 live payments" in line
    assert not telegram.method_counts and not telegram.unauthorized  # Telegram not asked
    assert not list(data_dir.iterdir())  # nothing written


async def test_check_refuses_a_broken_catalog(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "catalog.toml"
    broken.write_text((ROOT / "catalog.toml").read_text().replace("[[plans]]", "[[plans]", 1))
    code, out, err = await run_once(
        telegram, llm, data_dir, {"CATALOG_PATH": str(broken)}, "--check"
    )
    assert code == 2 and not out
    assert one_line(err).startswith("Catalog error")


async def test_check_refuses_a_damaged_money_file(
    telegram: FakeTelegram, llm: FakeOpenAI, data_dir: Path
) -> None:
    data_dir.mkdir()
    (data_dir / "payments.json").write_text('{"broken": ')
    code, out, err = await run_once(telegram, llm, data_dir, {}, "--check")
    assert code == 2 and not out
    line = one_line(err)
    assert line.startswith("Storage error") and "payments.json" in line
    assert [path.name for path in data_dir.iterdir()] == ["payments.json"]  # nothing changed
    assert (data_dir / "payments.json").read_text() == '{"broken": '
