"""Two real bot processes behind one webhook URL, on one PostgreSQL database and one Redis:
the emulator posts every update to a round-robin proxy, as Telegram would to a load
balancer in front of two replicas. Whichever process handles what, money is credited
once, a promo code is never over-used, a user's messages are answered in order, and a
broadcast reaches each user at most once, taken over when its process is killed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from edge.callbacks import AdminBroadcast, BroadcastAct, CheckPayment, PayMethod
from services.models import PromoCode, UserRecord
from services.storage.base import Retention, Transaction
from services.storage.postgres import PostgresStorage
from tests.conftest import REDIS_URL, delete_prefix, redis_client, unique_prefix
from tests.e2e.conftest import ADMIN, BotProcess, StartBot, free_port
from tests.e2e.test_payments import buy, label_of, yoomoney_env
from tests.e2e.test_webhook import PATH, SECRET, start_webhook_bot
from tests.factories import callback_prefix
from tests.postgres import connect, fresh_database
from tests.stubs.round_robin import RoundRobinProxy
from tests.stubs.telegram_server import FakeTelegram
from tests.stubs.yoomoney_server import FakeYooMoney

USER = 700
RETENTION = Retention(open_payment_seconds=8 * 86_400, invoice_reuse_seconds=20 * 3600)


@dataclass
class Pair:
    """The two processes, their shared settings and the proxy in front of them."""

    first: BotProcess
    second: BotProcess
    proxy: RoundRobinProxy
    database: str
    start: Callable[[], Awaitable[BotProcess]]  # one more process on the same settings


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def redis_prefix(start_bot: StartBot) -> AsyncIterator[str]:
    """A prefix of the test's own, its keys deleted once the bots are gone (after the
    start_bot fixture's teardown: a bot finishing an answer still writes)."""
    prefix = unique_prefix()
    yield prefix
    client = await redis_client()
    await delete_prefix(client, prefix)
    await client.aclose()


@pytest.fixture
async def two_processes(
    telegram: FakeTelegram, start_bot: StartBot, database: str, redis_prefix: str
) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    telegram.webhook_retry_scale = 0.05  # Telegram's 2 s, 4 s... as 0.1 s, 0.2 s...
    proxies: list[RoundRobinProxy] = []

    async def make(**extra: str) -> Pair:
        ports = [free_port(), free_port()]
        proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
        await proxy.start()
        proxies.append(proxy)
        shared = {
            "DATABASE_URL": database,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": redis_prefix,
            "WEBHOOK_URL": f"{proxy.base_url}{PATH}",  # the one public URL of both
            "WEBHOOK_SECRET": SECRET,
            **extra,
        }

        async def start(port: int | None = None) -> BotProcess:
            env = {**shared, "WEB_PORT": str(port or free_port())}
            return await start_webhook_bot(start_bot, env, timeout=60)

        first = await start(ports[0])
        second = await start(ports[1])
        return Pair(first, second, proxy, database, lambda: start(ports[0]))

    yield make
    for proxy in proxies:
        await proxy.stop()


async def seed(database: str, *, users: range = range(0), promo: PromoCode | None = None) -> None:
    """Records written straight into the database before the bots start."""
    store = PostgresStorage(database, RETENTION)
    await store.open()
    try:
        for user_id in users:
            await store.save_user(UserRecord(id=user_id, first_name=f"user{user_id}"))
        if promo is not None:
            await store.commit(Transaction(promo_codes=[promo]))
    finally:
        await store.close()


async def count_rows(database: str, query: str) -> int:
    conn = await connect(database)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def test_a_burst_of_one_users_messages_through_both_processes_is_answered_in_order(
    telegram: FakeTelegram, two_processes: Callable[..., Awaitable[Pair]]
) -> None:
    pair = await two_processes()
    questions = [f"вопрос номер {n}" for n in range(1, 9)]
    for question in questions:
        telegram.user_message(USER, question)
    await telegram.wait_for(
        lambda: all(
            any(f"Echo: {q}" in m.text or q in m.text for m in telegram.messages(USER))
            for q in questions
        ),
        timeout=60,
    )
    await asyncio.sleep(1.0)  # nothing more comes
    answers = "\n".join(m.text for m in telegram.messages(USER))
    places = [answers.index(q) for q in questions]
    assert places == sorted(places), answers  # in the order sent
    assert all(answers.count(q) == 1 for q in questions), answers  # each once
    backends = {backend for backend, _, _ in pair.proxy.sent}
    assert len(backends) == 2  # both processes took updates


async def test_a_ten_use_code_activated_by_a_hundred_users_through_both_gives_ten(
    telegram: FakeTelegram, two_processes: Callable[..., Awaitable[Pair]], database: str
) -> None:
    promo = PromoCode(
        code="TEN",
        plan_id="ai_group",
        days=7,
        max_uses=10,
        valid_until=None,
        created_at=time.time(),
        created_by=1,
    )
    await seed(database, promo=promo)
    await two_processes()
    users = range(50_000, 50_100)
    for user in users:
        telegram.user_message(user, "/promo TEN")
    await telegram.wait_for(lambda: all(telegram.messages(user) for user in users), timeout=90)
    activated = [
        u for u in users if any("Промокод активирован" in m.text for m in telegram.messages(u))
    ]
    assert len(activated) == 10
    assert await count_rows(database, "SELECT count(*) FROM promo_activations") == 10


async def test_one_payment_reported_to_both_processes_at_once_is_credited_once(
    telegram: FakeTelegram,
    yoomoney: FakeYooMoney,
    two_processes: Callable[..., Awaitable[Pair]],
    database: str,
) -> None:
    pair = await two_processes(**{k: v for k, v in yoomoney_env(yoomoney, "0.3").items() if v})
    invoice = await buy(telegram, USER, "premium1", PayMethod.YOOMONEY)
    yoomoney.add("op-two", 675.00, label_of(invoice))
    check = invoice.data_starting(callback_prefix(CheckPayment))
    for _ in range(4):  # pressed on both processes while the leader's poller checks too
        telegram.press_button(USER, invoice.message_id, check)
    await telegram.wait_for_message(USER, "Оплата получена", timeout=30)
    await asyncio.sleep(2.0)  # more poller rounds, more presses answered
    assert sum("Оплата получена" in m.text for m in telegram.messages(USER)) == 1
    assert await count_rows(database, "SELECT count(*) FROM payments WHERE status = 'paid'") == 1
    periods = await count_rows(
        database,
        "SELECT coalesce(sum(jsonb_array_length(record->'periods')), 0) FROM subscriptions",
    )
    assert periods == 1
    assert pair.first.returncode is None and pair.second.returncode is None


async def test_a_broadcast_reaches_each_user_once_when_its_process_is_killed_midway(
    telegram: FakeTelegram, two_processes: Callable[..., Awaitable[Pair]], database: str
) -> None:
    users = range(60_000, 60_600)
    await seed(database, users=users)
    pair = await two_processes(BROADCAST_RATE="60")
    telegram.user_message(ADMIN, "/broadcast Новости недели")
    preview = await telegram.wait_for_message(ADMIN, "Так увидят рассылку", timeout=30)
    telegram.press(
        ADMIN,
        preview,
        preview.data_starting(callback_prefix(AdminBroadcast, action=BroadcastAct.SEND)),
    )
    await telegram.wait_for(
        lambda: sum(telegram.delivered.get(u, 0) for u in users) > 100, timeout=60
    )
    pair.first.kill()  # the leader, which runs the broadcast, dies mid-way
    await pair.first.process.wait()
    await telegram.wait_for(
        lambda: next((m for m in telegram.messages(ADMIN) if "завершена" in m.text), None),
        timeout=120,
    )
    counts = Counter({u: telegram.delivered.get(u, 0) for u in users})
    assert max(counts.values()) == 1  # nobody twice, across the takeover
    assert sum(1 for u in users if counts[u] == 0) <= 4  # at most the sends in flight
    with contextlib.suppress(Exception):
        pair.second.kill()
