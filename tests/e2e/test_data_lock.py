"""One bot process per DATA_DIR, through real `bot.py` processes on one folder: a second
start is refused with one line (or waits, with DATA_LOCK_WAIT), and a process killed
with -9 never leaves the folder locked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.conftest import StartBot
from tests.stubs.telegram_server import FakeTelegram

USER = 960


async def answered(telegram: FakeTelegram, text: str) -> None:
    telegram.user_message(USER, text)
    await telegram.wait_for_message(USER, contains=f"Echo: {text}", timeout=20)


async def wait_for_text(path: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"{text!r} not in {path.name}"
        await asyncio.sleep(0.05)


async def test_a_second_process_on_the_same_data_dir_stops_with_one_line(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    first = await start_bot()
    second = await start_bot(wait_polling=False)
    assert await second.wait(20) == 2
    lines = second.log_text().strip().splitlines()
    assert len(lines) == 1, second.log_text()
    assert lines[0].startswith(f"Storage error: DATA_DIR {data_dir} is in use")
    assert f"pid {first.pid}" in lines[0] and "DATA_LOCK_WAIT" in lines[0]
    assert first.returncode is None
    await answered(telegram, "всё ещё работаю")  # the first one goes on, alone


async def test_with_data_lock_wait_the_new_process_starts_once_the_old_one_stops(
    telegram: FakeTelegram, start_bot: StartBot, tmp_path: Path
) -> None:
    old = await start_bot()
    new = asyncio.ensure_future(start_bot({"DATA_LOCK_WAIT": "40"}, timeout=60))
    await wait_for_text(tmp_path / "bot-1.log", "waiting up to 40 s")
    await answered(telegram, "старый ещё здесь")
    old.terminate()
    assert await old.wait(20) == 0
    replacement = await new
    assert "is free now; starting" in replacement.log_text()
    await answered(telegram, "новый на месте")


async def test_a_process_killed_with_minus_9_leaves_no_lock_behind(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    first = await start_bot()
    first.kill()
    await first.process.wait()
    await start_bot()  # no DATA_LOCK_WAIT: refused if the lock had outlived the process
    await answered(telegram, "после kill -9")
