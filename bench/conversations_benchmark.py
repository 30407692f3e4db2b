"""How long `/new` holds the event loop, by how many conversations the user has.

    python bench/conversations_benchmark.py --against DIR [--sizes 100,10000]
        [--repeat 40] [--rounds 3]

`DIR` is another checkout of the project (e.g. the commit before the limit:
`mkdir /tmp/old && git archive b031c57 | tar -x -C /tmp/old`). Each measurement runs
in a fresh subprocess that imports one checkout (first on sys.path), writes a user's
conversation list of the given size into an empty DATA_DIR, reads it once (as the
bot's cache holds it) and then calls `ConversationService.start_new` (what `/new`
does with the storage) `--repeat` times, while a task sleeping 1 ms records its
lateness: the longest lateness is the longest the loop was held. Also the CPU time
of the loop's own thread per `/new` (`time.thread_time`), and the wall time.
Checkouts alternate, `--rounds` times, so both see the same machine load.

Cases, each checkout on the same list:
- `N, limit off`: N conversations and a limit above N + repeat (the old code has no
  limit), so both write a list of N + 1 each time;
- `after N /new`: the list an account has after N presses of /new: N conversations for
  the old code, the default limit for the new one (each /new then deletes one).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
OWNER = 42
MONITOR_INTERVAL = 0.001


def conversation_list(size: int) -> dict[str, Any]:
    """A conversations/<id>.json as both versions write it: titled, one a minute apart."""
    items = [
        {
            "id": str(number),
            "title": f"Вопрос номер {number} о чём-то важном",
            "created_at": 1.7e9 + 60 * number,
            "updated_at": 1.7e9 + 60 * number,
            "model_key": "gpt-5-nano",
            "mode": "assistant",
            "instruction": "",
        }
        for number in range(1, size + 1)
    ]
    return {"current": str(size), "items": items}


async def monitor(worst: list[float]) -> None:
    """Sleeps MONITOR_INTERVAL in a loop; worst[0] is the longest lateness seen."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(MONITOR_INTERVAL)
        worst[0] = max(worst[0], time.perf_counter() - started - MONITOR_INTERVAL)


async def measure(root: Path, size: int, limit: int | None, repeat: int) -> dict[str, Any]:
    """In this process: `repeat` calls of start_new on a list of `size` conversations, or
    of as many as the checkout's limit keeps (its default unless `limit` is given)."""
    sys.path.insert(0, str(root))
    catalog = importlib.import_module("services.catalog").load_catalog(root / "catalog.toml")
    storage_module = importlib.import_module("services.storage.json_store")
    retention = importlib.import_module("services.storage.base").Retention(86400.0)
    service_class = importlib.import_module("services.chat.conversations").ConversationService
    options = {}
    if limit is not None and "max_conversations" in inspect.signature(service_class).parameters:
        options = {"max_conversations": limit}
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        storage = storage_module.JsonStorage(data_dir, retention)
        await storage.open()
        service = service_class(storage, catalog, **options)
        kept = min(size, getattr(service, "max_conversations", size))  # the old code: all
        (data_dir / "conversations").mkdir(exist_ok=True)
        path = data_dir / "conversations" / f"{OWNER}.json"
        path.write_text(json.dumps(conversation_list(kept), ensure_ascii=False))
        await service.all(OWNER)  # in the cache, as for an active user
        blocks, cpu, wall = [], [], []
        for _ in range(repeat):
            worst = [0.0]
            watcher = asyncio.create_task(monitor(worst))
            await asyncio.sleep(0.005)  # the monitor is running
            worst[0] = 0.0
            cpu_start, wall_start = time.thread_time(), time.perf_counter()
            await service.start_new(OWNER, "gpt-5-nano")
            cpu.append(time.thread_time() - cpu_start)
            wall.append(time.perf_counter() - wall_start)
            await asyncio.sleep(0.002)  # the monitor sees the end of the last block
            watcher.cancel()
            blocks.append(worst[0])
        listed = len((await service.all(OWNER)).items)
        await storage.close()
    return {"blocks": blocks, "cpu": cpu, "wall": wall, "listed": listed}


def run_worker(root: Path, size: int, limit: int | None, repeat: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", str(root), str(size), str(repeat)]
    if limit is not None:
        command.append(str(limit))
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({root}, {size}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, required=True, help="the old checkout")
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    cases: list[tuple[str, int, int | None, int | None]] = []  # name, size, old, new limit
    for size in sizes:
        cases.append((f"{size}, limit off", size, None, size + args.repeat * args.rounds + 1))
    for size in sizes:
        cases.append((f"after {size} /new", size, None, None))
    print(f"new: {HERE}\nold: {args.against}\n")
    header = f"{'case':<20}{'':>6}{'block ms':>10}{'loop CPU ms':>13}{'wall ms':>10}{'kept':>7}"
    print(header)
    for name, size, old_limit, new_limit in cases:
        results: dict[str, dict[str, list[float]]] = {}
        listed: dict[str, int] = {}
        for _ in range(args.rounds):
            for label, root, limit in (
                ("old", args.against, old_limit),
                ("new", HERE, new_limit),
            ):
                got = run_worker(root, size, limit, args.repeat)
                into = results.setdefault(label, {"blocks": [], "cpu": [], "wall": []})
                for key in into:
                    into[key].extend(got[key])
                listed[label] = got["listed"]
        for label in ("old", "new"):
            got_ms = results[label]
            print(
                f"{name if label == 'old' else '':<20}{label:>6}"
                f"{median_ms(got_ms['blocks']):>10.2f}{median_ms(got_ms['cpu']):>13.2f}"
                f"{median_ms(got_ms['wall']):>10.2f}{listed[label]:>7}"
            )
        old, new = results["old"], results["new"]
        print(
            f"{'':<20}{'old/new':>6}"
            f"{median_ms(old['blocks']) / median_ms(new['blocks']):>9.2f}x"
            f"{median_ms(old['cpu']) / median_ms(new['cpu']):>12.2f}x"
            f"{median_ms(old['wall']) / median_ms(new['wall']):>9.2f}x"
        )
    print("\nmedians of", args.rounds * args.repeat, "calls per cell; block: the longest the")
    print("loop was held during one /new; loop CPU: CPU time of the loop's thread.")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        root, size, repeat = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        limit = int(sys.argv[5]) if len(sys.argv) > 5 else None
        print(json.dumps(asyncio.run(measure(root, size, limit, repeat))))
    else:
        main()
