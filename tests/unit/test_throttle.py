"""Cooldowns and windows: in memory, in Redis (shared by two processes), and in each
process's memory while Redis does not answer."""

from __future__ import annotations

import asyncio

from runtime.redis import client_for
from services.operator.alerts import AlertService
from services.shared.state import SharedState
from services.shared.throttle import MemoryCooldown, MemoryWindow, RedisCooldown, RedisWindow
from tests.conftest import REDIS_PORT, delete_prefix, unique_prefix
from tests.stubs.tcp_proxy import TcpProxy
from tests.unit.conftest import another_process


async def test_a_cooldown_lets_one_through_then_says_how_long_to_wait(
    shared: SharedState | None,
) -> None:
    cooldown = RedisCooldown(shared, "t", 0.5) if shared else MemoryCooldown(0.5)
    assert await cooldown.claim("u1") == 0
    left = await cooldown.claim("u1")
    assert 0 < left <= 0.5
    assert await cooldown.claim("u2") == 0  # keys are independent
    await asyncio.sleep(0.6)
    assert await cooldown.claim("u1") == 0


async def test_a_window_counts_recent_events(shared: SharedState | None) -> None:
    window = RedisWindow(shared, "t", 10) if shared else MemoryWindow(10)
    for at in (100.0, 101.0, 105.0):
        await window.add("u1", at)
    assert await window.count("u1", 105.0) == 3
    assert await window.count("u1", 111.5) == 1  # two left the window
    assert await window.count("u2", 105.0) == 0


async def test_two_processes_share_cooldowns_windows_and_alerts(
    shared_redis: SharedState,
) -> None:
    other = await another_process(shared_redis)
    try:
        assert await RedisCooldown(shared_redis, "check", 30).claim("7") == 0
        assert await RedisCooldown(other, "check", 30).claim("7") > 0
        here, there = RedisWindow(shared_redis, "g", 600), RedisWindow(other, "g", 600)
        await here.add("7", 100.0)
        await there.add("7", 101.0)
        assert await here.count("7", 102.0) == 2
        sent: list[str] = []

        async def send(text: str) -> None:
            sent.append(text)

        alerts = [AlertService(send), AlertService(send)]
        for service, state in zip(alerts, (shared_redis, other), strict=True):
            service.dedupe = RedisCooldown(state, "alert", service.cooldown)
        assert await alerts[0].alert("provider:openai:timeout", "OpenAI times out")
        assert not await alerts[1].alert("provider:openai:timeout", "OpenAI times out")
        assert sent == ["OpenAI times out"]  # one alert for a fault both processes see
    finally:
        assert other.redis is not None
        await other.redis.aclose()


async def test_without_redis_each_process_still_throttles() -> None:
    proxy = TcpProxy("127.0.0.1", REDIS_PORT)
    await proxy.start()
    shared = SharedState(client_for(f"redis://127.0.0.1:{proxy.port}/0"), unique_prefix())
    try:
        cooldown, window = RedisCooldown(shared, "c", 30), RedisWindow(shared, "w", 600)
        proxy.cut()
        assert await cooldown.claim("7") == 0
        assert await cooldown.claim("7") > 0  # refused still, from memory
        for at in range(5):
            await window.add("7", 100.0 + at)
        assert await window.count("7", 105.0) == 5
        assert shared.link.problem is not None
    finally:
        assert shared.redis is not None
        proxy.restore()
        await delete_prefix(shared.redis, shared.prefix)
        await shared.redis.aclose()
        await proxy.stop()
