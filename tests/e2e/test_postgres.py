"""The real bot on PostgreSQL (DATABASE_URL, a fresh database per test): it answers, a
Stars payment is credited once, and after `kill -9` and a restart the plan is there."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.callbacks import BuyPlan, PayMethod, PayWith
from services.storage.base import Retention
from services.storage.postgres import PostgresStorage
from tests.e2e.conftest import StartBot, free_port
from tests.e2e.test_startup import one_line, run_once
from tests.postgres import connect, fresh_database
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 900


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


def health(port: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_on_postgres_a_paid_plan_survives_kill_9(
    telegram: FakeTelegram, start_bot: StartBot, database: str, data_dir: Path
) -> None:
    bot = await start_bot({"DATABASE_URL": database})
    telegram.user_message(USER, "Привет", first_name="Анна")
    await telegram.wait_for_message(USER, "Echo: Привет")
    status, body = await asyncio.to_thread(health, bot.env["WEB_PORT"])
    assert status == 200 and body["database_reachable"] is True, body

    telegram.user_message(USER, "/plans")
    plans = await telegram.wait_for_message(USER, "Тарифы", after=telegram.last_id(USER))
    telegram.press(USER, plans, BuyPlan(plan_id="power_group"))
    methods = await telegram.wait_for_last(USER, "способ оплаты")  # in place of the plans
    telegram.press(USER, methods, PayWith(plan_id="power_group", method=PayMethod.STARS))
    invoice = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(USER) if m.kind == "invoice"), None)
    )
    payload = invoice.extra["payload"]
    telegram.successful_payment(USER, payload, 580, "charge-pg-1")
    telegram.successful_payment(USER, payload, 580, "charge-pg-1")  # delivered twice
    await telegram.wait_for_message(USER, "Оплата получена")
    await telegram.wait_idle(USER, quiet=0.3)
    assert sum("Оплата получена" in m.text for m in telegram.messages(USER)) == 1

    bot.kill()  # kill -9: nothing flushed on the way out
    await bot.wait()
    await start_bot({"DATABASE_URL": database})
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Подписки", after=telegram.last_id(USER))
    assert "Power Group" in profile.text

    conn = await connect(database)
    try:
        status_of = await conn.fetchval("SELECT status FROM payments WHERE id = $1", payload)
        credited = await conn.fetchval(
            "SELECT count(*) FROM payment_events WHERE event = 'stars:charge-pg-1'"
        )
    finally:
        await conn.close()
    assert (status_of, credited) == ("paid", 1)
    assert not (data_dir / "payments.json").exists()  # nothing went to DATA_DIR's files


async def test_check_says_migrated_or_to_migrate_and_refuses_an_unreachable_database(
    telegram: FakeTelegram, llm: FakeOpenAI, database: str, data_dir: Path
) -> None:
    code, out, err = await run_once(telegram, llm, data_dir, {"DATABASE_URL": database}, "--check")
    assert (code, err) == (0, "")
    assert "reachable, to migrate at start-up (001_schema" in one_line(out)
    conn = await connect(database)
    try:  # --check wrote nothing
        assert await conn.fetchval("SELECT to_regclass('schema_migrations')") is None
    finally:
        await conn.close()
    store = PostgresStorage(database, Retention(open_payment_seconds=0))
    await store.open()
    await store.close()
    code, out, err = await run_once(telegram, llm, data_dir, {"DATABASE_URL": database}, "--check")
    assert (code, err) == (0, "")
    assert "reachable and migrated (0 live payments" in one_line(out)

    unreachable = f"postgresql://bot:Sup3rSecret@127.0.0.1:{free_port()}/bot"
    code, out, err = await run_once(
        telegram, llm, data_dir, {"DATABASE_URL": unreachable}, "--check"
    )
    assert code == 2 and not out
    line = one_line(err)
    assert line.startswith("Storage error: PostgreSQL 127.0.0.1:") and "not reachable" in line
    assert "Sup3rSecret" not in line
    assert not data_dir.exists()  # no DATA_DIR made or locked on PostgreSQL


async def test_without_redis_a_second_process_on_the_database_stops_with_one_line(
    telegram: FakeTelegram, start_bot: StartBot, database: str
) -> None:
    """Answer queues, flood control and quotas are in memory without Redis: a second
    process on the same database would double them, so it is refused (like DATA_DIR's)."""
    first = await start_bot({"DATABASE_URL": database})
    second = await start_bot({"DATABASE_URL": database}, wait_polling=False)
    assert await second.wait(30) == 2
    lines = [line for line in second.log_text().splitlines() if line and " DEBUG " not in line]
    assert len(lines) == 1, second.log_text()  # (the tests log at DEBUG: asyncio's line)
    assert "is in use by another bot process" in lines[0] and "REDIS_URL" in lines[0]
    assert "postgres@" not in lines[0]  # the database named by host and name only
    first.kill()  # kill -9 frees it: the session and its lock go with the process
    await first.process.wait()
    await start_bot({"DATABASE_URL": database})
    telegram.user_message(USER, "снова здесь")
    await telegram.wait_for_message(USER, "Echo: снова здесь")
