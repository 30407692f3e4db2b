"""JSON storage: atomic writes, coalescing, crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import services.storage.atomic as atomic
from services.models import ChatTurn, UserRecord
from services.storage.atomic import FileWriter, read_json
from services.storage.json_store import JsonStorage
from tests.unit.conftest import RETENTION


async def test_users_and_history_survive_a_new_instance(tmp_path: Path) -> None:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.save_user(UserRecord(id=7, first_name="Анна", model_key="gpt-5-nano"))
    await storage.save_history(
        7, [ChatTurn("user", "привет"), ChatTurn("assistant", "здравствуйте")]
    )
    await storage.close()

    again = JsonStorage(tmp_path, RETENTION)
    await again.open()
    user = await again.get_user(7)
    assert user is not None and user.first_name == "Анна" and user.model_key == "gpt-5-nano"
    assert await again.load_history(7) == [
        ChatTurn("user", "привет"),
        ChatTurn("assistant", "здравствуйте"),
    ]
    assert await again.count_users() == 1
    assert await again.get_user(8) is None


async def test_returned_user_is_a_copy(tmp_path: Path) -> None:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.save_user(UserRecord(id=1, model_key="a"))
    user = await storage.get_user(1)
    assert user is not None
    user.model_key = "b"  # not saved
    again = await storage.get_user(1)
    assert again is not None and again.model_key == "a"


async def test_concurrent_saves_coalesce_and_keep_the_newest_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = FileWriter()
    path = tmp_path / "counter.json"
    state = {"n": 0}
    writes = 0
    real_write = atomic.write_file_atomic

    def slow_counting_write(*args: Any, **kwargs: Any) -> None:
        nonlocal writes
        writes += 1
        time.sleep(0.01)
        real_write(*args, **kwargs)

    monkeypatch.setattr(atomic, "write_file_atomic", slow_counting_write)

    async def bump(i: int) -> None:
        state["n"] = i
        await writer.save(path, lambda: dict(state))

    await asyncio.gather(*(bump(i) for i in range(1, 101)))
    assert read_json(path) == {"n": 100}
    assert writes < 10  # 100 saves, a handful of writes
    assert not list(tmp_path.glob(".*.tmp"))


KILL_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {root!r})
from services.storage.json_store import JsonStorage
from services.storage.base import Retention
from services.models import UserRecord, ChatTurn

async def main():
    storage = JsonStorage(__import__("pathlib").Path({data!r}), Retention(86400))
    await storage.open()
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        await storage.save_user(UserRecord(id=1, first_name="x" * (i % 5000), model_key=str(i)))
        await storage.save_history(1, [ChatTurn("user", "y" * (i % 7000))] * 3)

asyncio.run(main())
"""


def test_kill_9_mid_writes_leaves_valid_files(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    data = tmp_path / "data"
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT.format(root=root, data=str(data))],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        for path in data.rglob("*.json"):
            json.loads(path.read_bytes())  # every real file parses
    user = json.loads((data / "users" / "1.json").read_bytes())
    assert int(user["model_key"]) > 0


async def test_write_failure_is_reported_and_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    reports: list[str] = []

    async def listener(text: str) -> None:
        reports.append(text)

    storage.problem_listeners.append(listener)

    def broken_write(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "write_file_atomic", broken_write)
    with pytest.raises(OSError):
        await storage.save_user(UserRecord(id=3))
    assert reports and "No space left" in reports[0] and "3.json" in reports[0]
