"""tools/import_json: every JSON record lands in PostgreSQL as the PostgreSQL store reads
it; a second run changes nothing; a database with other data is refused (--force over
it); the money rules hold over the imported records."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.models import (
    Broadcast,
    ChatTurn,
    Conversation,
    Conversations,
    OutboxItem,
    Period,
    PromoActivation,
    PromoCode,
    Referral,
    ReferralCode,
    StarsSubscription,
    Subscription,
    UserRecord,
)
from services.storage.base import DAY, ConflictError, MoneyRule, Storage, Transaction
from services.storage.json_store import JsonStorage
from services.storage.postgres import PostgresStorage
from tests.postgres import database_url, fresh_schema
from tests.unit.test_storage_contract import RETENTION, payment, unmatched
from tools.import_json import ImportRefusedError, import_json


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema() as name:
        yield name


async def fill(data_dir: Path) -> tuple[str, dict[str, object]]:
    """A DATA_DIR with a record of every kind (and history in the archive)."""
    store = JsonStorage(data_dir, RETENTION)
    await store.open()
    await store.load_money()
    now = time.time()
    await store.save_user(UserRecord(id=1, first_name="Анна", username="Anna_K"))
    await store.save_user(UserRecord(id=2, blocked=True))
    conversations = Conversations("c1", (Conversation("c1", "Вопрос", 1.0, 2.0),))
    await store.save_conversations(1, conversations)
    await store.save_history(1, "c1", [ChatTurn("user", "привет", ("x.png",))])
    image = await store.save_image(1, "c1", b"\x89PNG", "image/png")
    old = payment("old", "paid", created_at=now - 60 * DAY, operation_id="op0", operations=("op0",))
    await store.commit(Transaction(payments=[old]))
    await store.maintain()  # "old" goes to the archive
    await store.commit(
        Transaction(
            payments=[payment("open", user_id=3), payment("paid", "paid", charge_id="ch1")],
            subscriptions=[
                Subscription(1, "premium1", (Period(now, now + 30 * DAY, "payment:paid"),))
            ],
            promo_codes=[PromoCode("ONE", "premium1", 7, 1, None, now, 1)],
            promo_activations=[PromoActivation("ONE", 1, now)],
            unmatched=[unmatched("yoomoney:op9")],
            stars_subscriptions=[
                StarsSubscription("sub1", 1, "premium1", 100, now, now, "ch7", ("ch7",))
            ],
            referral_codes=[ReferralCode(1, "abc", now)],
            referrals=[Referral(2, 1, now)],
            outbox=[OutboxItem("o1", "tell_user", 1, now, now, text="paid")],
        )
    )
    await store.save_stats("2026-12-14", {"new_users": 3})
    await store.save_state("model_check", {"missing": {}})
    await store.save_broadcast(
        Broadcast("b1", created_by=1, created_at=5.0, text="hi", status="done")
    )
    log = await store.open_deliveries("b1")
    await log.tried(1)
    await log.done(1, "delivered")
    await log.tried(2)
    await log.close()
    await store.close()
    return image, {"conversations": conversations}


async def test_everything_is_copied_and_a_second_run_changes_nothing(
    tmp_path: Path, schema: str
) -> None:
    data_dir = tmp_path / "data"
    image, expected = await fill(data_dir)
    json_store = JsonStorage(data_dir, RETENTION)
    await json_store.open()
    json_money = await json_store.load_money()
    await json_store.close()

    counts = await import_json(database_url(), data_dir, schema=schema)
    assert counts["users"].new == 2 and counts["payments"].new == 3
    assert counts["payment_events"].new == 2 and counts["stars_charges"].new == 1
    again = await import_json(database_url(), data_dir, schema=schema)
    assert {name: (c.new, c.changed) for name, c in again.items() if c.new or c.changed} == {}
    assert again["payments"].unchanged == 3

    store = PostgresStorage(database_url(), RETENTION, schema=schema)
    await store.open()
    try:
        money = await store.load_money()
        for name in (
            "payments",
            "subscriptions",
            "promo_codes",
            "promo_activations",
            "unmatched",
            "stars_subscriptions",
            "referral_codes",
            "referrals",
            "outbox",
        ):
            key = lambda r: str(r)  # noqa: E731
            assert sorted(getattr(money, name), key=key) == sorted(
                getattr(json_money, name), key=key
            ), name
        assert await store.find_payment("old") is not None  # history: in the archive
        assert sorted([p.id async for p in store.iter_payments()]) == ["old", "open", "paid"]
        assert await store.find_user_by_username("anna_k") == UserRecord(
            id=1, first_name="Анна", username="Anna_K"
        )
        assert await store.unblocked_user_ids() == [1]
        assert await store.load_conversations(1) == expected["conversations"]
        assert await store.load_history(1, "c1") == [ChatTurn("user", "привет", ("x.png",))]
        assert await store.load_image(1, "c1", image) == (b"\x89PNG", "image/png")
        assert await store.load_stats("2026-12-14") == {"new_users": 3}
        assert await store.load_state("model_check") == {"missing": {}}
        assert [b.id for b in await store.load_broadcasts()] == ["b1"]
        assert await store.read_deliveries("b1") == ({1, 2}, {1: "delivered"})
        await assert_rules_hold(store)
    finally:
        await store.close()
    # The bot has written into it now: a new import would overwrite newer records.
    with pytest.raises(ImportRefusedError, match="the bot has already written"):
        await import_json(database_url(), data_dir, schema=schema)
    forced = await import_json(database_url(), data_dir, schema=schema, force=True)
    assert forced["users"].total == 2


async def assert_rules_hold(store: Storage) -> None:
    now = time.time()
    refused = {
        MoneyRule.ONE_OPEN_INVOICE: Transaction(payments=[payment("again", user_id=3)]),
        MoneyRule.PROMO_MAX_USES: Transaction(promo_activations=[PromoActivation("ONE", 5, now)]),
        MoneyRule.MONEY_EVENT_ONCE: Transaction(
            payments=[payment("twice", "paid", user_id=4, operation_id="op0", operations=("op0",))]
        ),
        MoneyRule.STARS_CHARGE_ONCE: Transaction(
            stars_subscriptions=[
                StarsSubscription("sub2", 2, "premium1", 1, now, now, "ch7", ("ch7",))
            ]
        ),
        MoneyRule.STATUS_FORWARD: Transaction(payments=[payment("paid", "pending")]),
        MoneyRule.INVITED_ONCE: Transaction(referrals=[Referral(2, 9, now)]),
    }
    for rule, transaction in refused.items():
        with pytest.raises(ConflictError) as error:
            await store.commit(transaction)
        assert error.value.rule == rule
    await store.commit(
        Transaction(payments=[dataclasses.replace(payment("open", user_id=3), status="expired")])
    )


async def test_a_database_with_other_data_is_refused(tmp_path: Path, schema: str) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    await fill(first)
    await fill(second)
    await import_json(database_url(), first, schema=schema)
    with pytest.raises(ImportRefusedError, match="another DATA_DIR"):
        await import_json(database_url(), second, schema=schema)
    with pytest.raises(ImportRefusedError, match="holds no bot data"):
        await import_json(database_url(), tmp_path / "empty", schema=schema)
