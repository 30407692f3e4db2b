"""What the PostgreSQL store adds to the contract: several instances (processes) on one
database, the database's own rules, migrations and faults. Each test on a fresh schema."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from runtime.health import Health
from services.models import Payment, PromoActivation, PromoCode, Subscription, UserRecord
from services.storage.base import (
    DAY,
    TRANSITIONS,
    ConflictError,
    MoneyRule,
    Retention,
    StorageError,
    Transaction,
)
from services.storage.postgres import PostgresStorage
from services.storage.postgres import money as money_module
from services.storage.postgres.connection import database_label
from services.storage.postgres.migrations import migrations
from tests.postgres import connect, database_url, fresh_schema
from tests.postgres_proxy import TcpProxy

RETENTION = Retention(open_payment_seconds=8 * DAY, invoice_reuse_seconds=DAY - 3600)
Open = Callable[..., Awaitable[PostgresStorage]]


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema() as name:
        yield name


@pytest.fixture
async def open_store(schema: str) -> AsyncIterator[Open]:
    """Opens store instances on the test's schema (each one process); closes them after."""
    stores: list[PostgresStorage] = []

    async def open_one(
        url: str | None = None, retry_seconds: float | None = None, exclusive: bool = False
    ) -> PostgresStorage:
        store = PostgresStorage(
            url or database_url(),
            RETENTION,
            schema=schema,
            retry_seconds=retry_seconds,
            exclusive=exclusive,
        )
        stores.append(store)
        await store.open()
        await store.load_money()
        return store

    yield open_one
    for store in stores:
        await store.close()


def payment(
    payment_id: str, status: str = "pending", user_id: int = 1, **changes: object
) -> Payment:
    now = time.time()
    fields: dict[str, object] = {
        "id": payment_id,
        "user_id": user_id,
        "plan_id": "premium1",
        "method": "yoomoney",
        "amount": 675.0,
        "currency": "RUB",
        "status": status,
        "created_at": now,
        "updated_at": now,
        **changes,
    }
    return Payment(**fields)  # type: ignore[arg-type]


async def test_two_instances_stale_until_caught_up(open_store: Open) -> None:
    a, b = await open_store(), await open_store()
    await a.commit(Transaction(payments=[payment("p1")]))
    paid = payment("p1", "paid", operation_id="op1", operations=("op1",))
    with pytest.raises(ConflictError) as error:
        await b.commit(Transaction(payments=[paid]))  # b has not seen a's p1
    assert (error.value.rule, error.value.key) == (MoneyRule.STALE, "p1")
    found = await b.find_payment("p1")  # reading is always allowed
    assert found is not None and found.status == "pending"
    changes = await b.money_changes()
    assert [[p.id for p in t.payments] for t in changes] == [["p1"]]
    await b.commit(Transaction(payments=[paid]))  # caught up: passes
    # a is now behind b's change of p1: its own next write of p1 is stale in turn.
    with pytest.raises(ConflictError) as error:
        await a.commit(Transaction(payments=[payment("p1", "rejected")]))
    assert error.value.rule == MoneyRule.STALE
    (taken,) = await a.money_changes()
    assert taken.payments == [paid]
    # Caught up, the rules decide: paid -> rejected is not forward.
    with pytest.raises(ConflictError) as error:
        await a.commit(Transaction(payments=[payment("p1", "rejected")]))
    assert error.value.rule == MoneyRule.STATUS_FORWARD


async def test_a_record_another_instance_inserted_is_stale(open_store: Open) -> None:
    a, b = await open_store(), await open_store()
    now = time.time()
    first = Subscription(7, "premium1", ())
    await a.commit(Transaction(subscriptions=[first]))
    with pytest.raises(ConflictError) as error:
        await b.commit(Transaction(subscriptions=[Subscription(7, "premium1", ())]))
    assert (error.value.rule, error.value.key) == (MoneyRule.STALE, "7:premium1")
    await b.money_changes()
    await b.commit(Transaction(subscriptions=[Subscription(7, "premium1", ())]))
    # Records nobody else touched pass at any time, and a's own writes never go stale.
    await a.commit(Transaction(promo_codes=[PromoCode("X", "premium1", 7, None, None, now, 1)]))
    await a.commit(Transaction(promo_codes=[PromoCode("X", "premium1", 8, None, None, now, 1)]))


async def test_a_commit_appears_once_in_the_other_instance_with_equal_records(
    open_store: Open,
) -> None:
    a, b = await open_store(), await open_store()
    now = time.time()
    promo = PromoCode("TEN", "premium1", 7, 10, None, now, 1)
    transaction = Transaction(
        payments=[payment("p1", "paid", operation_id="op1", operations=("op1",))],
        subscriptions=[Subscription(1, "premium1", ())],
        promo_codes=[promo],
        promo_activations=[PromoActivation("TEN", 1, now)],
    )
    await a.commit(transaction)
    await a.commit(Transaction(deleted_promo_codes=["TEN"]))
    assert await a.money_changes() == []  # its own commits are skipped
    assert await b.money_changes() == [transaction, Transaction(deleted_promo_codes=["TEN"])]
    assert await b.money_changes() == []  # once
    # A store opened afterwards has it all in its live set and nothing to take in.
    c = await open_store()
    assert await c.money_changes() == []
    await a.commit(Transaction(payments=[payment("p2")]))
    assert [t.payments[0].id for t in await c.money_changes()] == ["p2"]


async def test_concurrent_activations_from_two_instances_never_exceed_max_uses(
    open_store: Open,
) -> None:
    a, b = await open_store(), await open_store()
    now = time.time()
    await a.commit(Transaction(promo_codes=[PromoCode("TEN", "premium1", 7, 10, None, now, 1)]))
    await b.money_changes()

    async def activate(store: PostgresStorage, user_id: int) -> MoneyRule | None:
        try:
            await store.commit(
                Transaction(promo_activations=[PromoActivation("TEN", user_id, now)])
            )
        except ConflictError as error:
            return error.rule
        return None

    results = await asyncio.gather(*(activate((a, b)[i % 2], 100 + i) for i in range(100)))
    assert results.count(None) == 10
    assert set(results) == {None, MoneyRule.PROMO_MAX_USES}
    conn = await connect()
    try:
        schema = a.db.schema
        count = await conn.fetchval(f"SELECT count(*) FROM {schema}.promo_activations")
        uses = await conn.fetchval(f"SELECT uses FROM {schema}.promo_uses WHERE code = 'TEN'")
    finally:
        await conn.close()
    assert (count, uses) == (10, 10)


async def test_a_commit_that_landed_before_its_connection_died_is_not_applied_twice(
    open_store: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_store()
    now = time.time()
    await store.commit(Transaction(promo_codes=[PromoCode("ONE", "premium1", 7, 1, None, now, 1)]))
    commit_once = money_module.MoneyTables._commit_once
    tries = 0

    async def lost_ack(self: money_module.MoneyTables, *args: object) -> tuple[int, bool]:
        nonlocal tries
        tries += 1
        result = await commit_once(self, *args)  # type: ignore[arg-type]
        if tries == 1:  # committed, but the answer never came back
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        return result

    monkeypatch.setattr(money_module.MoneyTables, "_commit_once", lost_ack)
    await store.commit(Transaction(promo_activations=[PromoActivation("ONE", 5, now)]))
    assert tries == 2
    again = await open_store()
    money = await again.load_money()
    assert [(a.code, a.user_id) for a in money.promo_activations] == [("ONE", 5)]


async def test_two_instances_opening_together_migrate_once(schema: str) -> None:
    stores = [PostgresStorage(database_url(), RETENTION, schema=schema) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        conn = await connect()
        try:
            rows = await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")
        finally:
            await conn.close()
        assert sorted(row["version"] for row in rows) == [m.version for m in migrations()]
        await stores[0].save_user(UserRecord(id=1))
        assert await stores[2].get_user(1) == UserRecord(id=1)
    finally:
        for store in stores:
            await store.close()


async def test_a_database_from_a_newer_version_is_refused(open_store: Open, schema: str) -> None:
    await open_store()
    conn = await connect()
    try:
        await conn.execute(f"INSERT INTO {schema}.schema_migrations VALUES (999, 'future')")
    finally:
        await conn.close()
    with pytest.raises(StorageError, match="newer than this version"):
        await open_store()


async def test_the_transitions_table_is_the_contracts(open_store: Open, schema: str) -> None:
    await open_store()
    conn = await connect()
    try:
        rows = await conn.fetch(f"SELECT from_status, to_status FROM {schema}.payment_transitions")
    finally:
        await conn.close()
    expected = {(old, new) for old, news in TRANSITIONS.items() for new in news}
    assert {(row["from_status"], row["to_status"]) for row in rows} == expected


async def test_a_restarted_database_is_waited_for_and_health_says_so(open_store: Open) -> None:
    target = urlsplit(database_url())
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    try:
        store = await open_store(proxy.url_for(database_url()), retry_seconds=20.0)
        await store.commit(Transaction(payments=[payment("p1")]))
        assert await store.health_problem() is None
        await proxy.stop()  # "restarted": connections cut, new ones refused meanwhile
        paid = dataclasses.replace(payment("p1", "paid"), created_at=time.time())
        writing = asyncio.ensure_future(store.commit(Transaction(payments=[paid])))
        saving = asyncio.ensure_future(store.save_user(UserRecord(id=3, first_name="x")))
        await asyncio.sleep(1.0)
        assert not writing.done() and not saving.done()
        assert await store.health_problem() is not None
        await proxy.start()
        await asyncio.wait_for(asyncio.gather(writing, saving), 15)
        assert await store.health_problem() is None
        found = await store.find_payment("p1")
        assert found is not None and found.status == "paid"
        assert await store.get_user(3) == UserRecord(id=3, first_name="x")
    finally:
        await proxy.stop()


async def test_a_database_away_too_long_gives_a_storage_error(open_store: Open) -> None:
    target = urlsplit(database_url())
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    try:
        store = await open_store(proxy.url_for(database_url()), retry_seconds=1.0)
        await proxy.stop()
        started = time.monotonic()
        with pytest.raises(StorageError, match="unreachable for 1 s"):
            await store.get_user(1)
        assert time.monotonic() - started < 5
    finally:
        await proxy.stop()


def test_logs_name_the_host_and_database_only() -> None:
    label = database_label("postgresql://bot:s3cret@db.example:6432/botdb?sslmode=require")
    assert label == "db.example:6432/botdb"
    assert "s3cret" not in label and "bot:" not in label


async def test_health_reports_the_database_instead_of_data_dir(tmp_path: Path) -> None:
    now = [100.0]
    health = Health(tmp_path / "absent", max_poll_age=60, clock=lambda: now[0])
    health.polled()
    problem: list[str | None] = [None]

    async def database() -> str | None:
        return problem[0]

    health.database = database
    status, body = await health.report()
    assert (status, body["status"], body["database_reachable"]) == (200, "ok", True)
    problem[0] = "ConnectionRefusedError: [Errno 111]"
    now[0] += 10  # past the check's reuse
    status, body = await health.report()
    assert (status, body["status"], body["database_reachable"]) == (
        503,
        "database_unreachable",
        False,
    )
