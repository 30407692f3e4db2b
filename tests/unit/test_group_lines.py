"""A group topic's line: one answer at a time, first come first served, spaced, bounded;
in memory and in Redis (there also across two processes, and past a killed one)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from edge.group_lines import GroupLines, Lines
from services.shared import lines as redis_lines
from services.shared.lines import RedisLines
from services.shared.state import SharedState
from tests.unit.conftest import another_process

SPACING = 0.3


def make(shared: SharedState | None, limit: int = 20) -> Lines:
    if shared is None:
        return GroupLines()
    return RedisLines(shared, limit=limit, spacing=SPACING)


@pytest.fixture(autouse=True)
def quick_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge.group_lines.GROUP_SPACING", SPACING)
    monkeypatch.setattr(redis_lines, "LOOK_EVERY", 0.02)


async def answer_all(lines: list[Lines], count: int) -> list[tuple[int, float, float]]:
    """`count` questions in one topic, the n-th entering through lines[n % len]: (n,
    start, end) of each answer, in the order answered."""
    answered: list[tuple[int, float, float]] = []

    async def ask(number: int) -> None:
        place = await lines[number % len(lines)].enter(-100, 0)
        assert place is not None
        try:
            await place.wait_turn()
            started = time.monotonic()
            await asyncio.sleep(0.05)  # the answer
            answered.append((number, started, time.monotonic()))
        finally:
            await place.leave()

    tasks = []
    for number in range(count):
        tasks.append(asyncio.create_task(ask(number)))
        await asyncio.sleep(0.01)  # asked in this order
    await asyncio.gather(*tasks)
    return answered


async def test_one_at_a_time_in_order_and_spaced(shared: SharedState | None) -> None:
    answered = await answer_all([make(shared)], 4)
    assert [number for number, _, _ in answered] == [0, 1, 2, 3]
    for (_, _, end), (_, start, _) in itertools.pairwise(answered):
        assert start - end >= SPACING - 0.05  # never two at once, and spaced


async def test_a_question_after_the_line_emptied_is_spaced_too(
    shared: SharedState | None,
) -> None:
    lines = make(shared)
    answered = await answer_all([lines], 1)
    answered += await answer_all([lines], 1)  # asked after the first answer, line empty
    assert answered[1][1] - answered[0][2] >= SPACING - 0.05


async def test_the_line_is_bounded(shared: SharedState | None) -> None:
    lines = make(shared, limit=2) if shared is not None else GroupLines()
    limit = 2 if shared is not None else 20
    places = [await lines.enter(-100, 0) for _ in range(limit)]
    assert all(place is not None for place in places)
    assert await lines.enter(-100, 0) is None
    assert await lines.enter(-100, 7) is not None  # another topic has its own line
    for place in places:
        assert place is not None
        await place.leave()
    assert await lines.enter(-100, 0) is not None


async def test_two_processes_keep_one_line(shared_redis: SharedState) -> None:
    other = await another_process(shared_redis)
    try:
        answered = await answer_all([make(shared_redis), make(other)], 6)
        assert [number for number, _, _ in answered] == list(range(6))
        for (_, _, end), (_, start, _) in itertools.pairwise(answered):
            assert start - end >= SPACING - 0.05
    finally:
        assert other.redis is not None
        await other.redis.aclose()


async def test_a_killed_processes_question_does_not_block_the_line(
    shared_redis: SharedState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_lines, "ALIVE_TTL", 0.3)
    monkeypatch.setattr(redis_lines, "KEEP_EVERY", 0.1)
    lines = make(shared_redis)
    dead = await lines.enter(-100, 0)
    assert dead is not None
    await dead.wait_turn()
    dead._keeper.cancel()  # type: ignore[attr-defined]  # the process dies answering
    waiting = await lines.enter(-100, 0)
    assert waiting is not None
    started = time.monotonic()
    await asyncio.wait_for(waiting.wait_turn(), 3)
    assert time.monotonic() - started < 1.5  # once the dead one's place expired
    await waiting.leave()
