"""The Storage contract: every implementation passes the same tests (JSON files, memory,
PostgreSQL).

`reopen` is a restart: a new JSON store over the same folder; the same memory store (it
plays a database, which outlives the process); a new PostgreSQL store on the same
schema (a fresh one per test, see tests/postgres.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from services.models import (
    Broadcast,
    ChatTurn,
    Conversation,
    Conversations,
    Payment,
    PaymentStatus,
    Period,
    PromoActivation,
    PromoCode,
    Referral,
    ReferralCode,
    StarsSubscription,
    Subscription,
    UnmatchedMoney,
    UserRecord,
)
from services.storage.base import DAY, ConflictError, MoneyRule, Retention, Storage, Transaction
from services.storage.json_store import JsonStorage
from services.storage.memory import MemoryStorage
from services.storage.postgres import PostgresStorage
from tests.postgres import database_url, fresh_schema

RETENTION = Retention(open_payment_seconds=8 * DAY, invoice_reuse_seconds=DAY - 3600)
Reopen = Callable[[], Awaitable[Storage]]


@pytest.fixture(params=["json", "memory", "postgres", "postgres-alone"])
async def opened(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Storage, Reopen]]:
    async with contextlib.AsyncExitStack() as stack:
        schema = (
            await stack.enter_async_context(fresh_schema())
            if request.param.startswith("postgres")
            else None
        )
        stores: list[Storage] = []
        memory = MemoryStorage(RETENTION)

        def new_store() -> Storage:
            if request.param == "json":
                return JsonStorage(tmp_path, RETENTION)
            if request.param.startswith("postgres"):  # alone: it caches users and memories
                alone = request.param == "postgres-alone"
                return PostgresStorage(database_url(), RETENTION, schema=schema, exclusive=alone)
            return memory

        async def open_store() -> Storage:
            store = new_store()
            if stores and store is not memory:
                await stores[-1].close()
            await store.open()
            await store.load_money()
            stores.append(store)
            return store

        await open_store()
        yield stores[0], open_store
        await stores[-1].close()


@pytest.fixture
def storage(opened: tuple[Storage, Reopen]) -> Storage:
    return opened[0]


@pytest.fixture
def reopen(opened: tuple[Storage, Reopen]) -> Reopen:
    return opened[1]


def payment(
    payment_id: str,
    status: PaymentStatus = "pending",
    *,
    user_id: int = 1,
    method: str = "yoomoney",
    created_at: float | None = None,
    **changes: object,
) -> Payment:
    moment = time.time() if created_at is None else created_at
    fields: dict[str, object] = {
        "id": payment_id,
        "user_id": user_id,
        "plan_id": "premium1",
        "method": method,
        "amount": 675.0,
        "currency": "RUB",
        "status": status,
        "created_at": moment,
        "updated_at": moment,
        **changes,
    }
    return Payment(**fields)  # type: ignore[arg-type]


def unmatched(money_id: str, **changes: object) -> UnmatchedMoney:
    item = UnmatchedMoney(
        money_id, "yoomoney", 100.0, "RUB", "label", None, 1, "unknown", time.time()
    )
    return dataclasses.replace(item, **changes)  # type: ignore[arg-type]


# Users, conversations, memory, pictures --------------------------------------------------
async def test_users_are_saved_counted_listed_and_copied(storage: Storage, reopen: Reopen) -> None:
    await storage.save_user(UserRecord(id=1, first_name="Анна", username="anna"))
    await storage.save_user(UserRecord(id=2, first_name="Bob", blocked=True))
    user = await storage.get_user(1)
    assert user is not None and user.first_name == "Анна"
    user.first_name = "changed, not saved"
    again = await reopen()
    assert (await again.get_user(1)) == UserRecord(id=1, first_name="Анна", username="anna")
    assert await again.get_user(3) is None
    assert await again.count_users() == 2
    assert sorted([user.id async for user in again.iter_users()]) == [1, 2]


async def test_conversations_and_their_memory(storage: Storage, reopen: Reopen) -> None:
    assert await storage.load_conversations(5) is None
    conversations = Conversations(current="1", items=(Conversation("1", "Вопрос", 1.0, 2.0),))
    await storage.save_conversations(5, conversations)
    turns = [ChatTurn("user", "привет"), ChatTurn("assistant", "здравствуйте")]
    await storage.save_history(5, "1", turns)
    await storage.save_history(5, "2", [ChatTurn("user", "second")])
    again = await reopen()
    assert await again.load_conversations(5) == conversations
    assert await again.load_history(5, "1") == turns
    await again.delete_history(5, "2")
    assert await again.load_history(5, "2") == []
    assert await again.load_history(5, "1") == turns


async def test_pictures_live_and_go_with_their_conversation(storage: Storage) -> None:
    image_id = await storage.save_image(5, "1", b"\x89PNG...", "image/png")
    other = await storage.save_image(5, "2", b"jpeg", "image/jpeg")
    assert image_id.endswith(".png") and image_id != other
    assert await storage.load_image(5, "1", image_id) == (b"\x89PNG...", "image/png")
    assert await storage.load_image(5, "1", other) is None  # another conversation's
    assert await storage.load_image(5, "1", "../../users/1.json") is None
    await storage.delete_history(5, "1")
    assert await storage.load_image(5, "1", image_id) is None
    assert await storage.load_image(5, "2", other) == (b"jpeg", "image/jpeg")


async def test_forget_removes_every_conversation_of_the_owner(
    storage: Storage, reopen: Reopen
) -> None:
    for owner in (5, 6):
        item = Conversation("1", "t", 1.0, 1.0)
        await storage.save_conversations(owner, Conversations("1", (item,)))
        await storage.save_history(owner, "1", [ChatTurn("user", f"of {owner}")])
        await storage.save_image(owner, "1", b"x", "image/jpeg")
    await storage.forget(5)
    again = await reopen()
    assert await again.load_conversations(5) is None
    assert await again.load_history(5, "1") == []
    assert await again.load_history(6, "1") == [ChatTurn("user", "of 6")]


# Money -----------------------------------------------------------------------------------
async def test_a_commit_lands_whole_and_loads_back(storage: Storage, reopen: Reopen) -> None:
    now = time.time()
    paid = payment("p1", "paid", paid_at=now, operation_id="op1", operations=("op1",))
    subscription = Subscription(1, "premium1", (Period(now, now + 30 * DAY, "payment:p1"),))
    promo = PromoCode("CODE", "premium1", 7, 10, None, now, 99)
    await storage.commit(
        Transaction(
            payments=[paid],
            subscriptions=[subscription],
            promo_codes=[promo],
            promo_activations=[PromoActivation("CODE", 2, now)],
            referral_codes=[ReferralCode(1, "abc", now)],
            referrals=[Referral(2, 1, now)],
            stars_subscriptions=[StarsSubscription("sub1", 1, "premium1", 100, now, now)],
            unmatched=[unmatched("yoomoney:op9")],
        )
    )
    await storage.commit(Transaction())  # nothing to write
    money = await (await reopen()).load_money()
    assert money.payments == [paid]
    assert money.subscriptions == [subscription]
    assert money.promo_codes == [promo]
    assert money.promo_activations == [PromoActivation("CODE", 2, now)]
    assert money.referral_codes == [ReferralCode(1, "abc", now)]
    assert money.referrals == [Referral(2, 1, now)]
    assert [item.id for item in money.stars_subscriptions] == ["sub1"]
    assert [item.id for item in money.unmatched] == ["yoomoney:op9"]


async def test_a_later_version_replaces_the_record_and_a_deleted_code_goes(
    storage: Storage, reopen: Reopen
) -> None:
    now = time.time()
    await storage.commit(Transaction(payments=[payment("p1")]))
    await storage.commit(Transaction(payments=[payment("p1", "rejected", note="no")]))
    await storage.commit(
        Transaction(promo_codes=[PromoCode("A", "premium1", 7, None, None, now, 1)])
    )
    await storage.commit(Transaction(deleted_promo_codes=["A"]))
    money = await (await reopen()).load_money()
    assert [(p.id, p.status, p.note) for p in money.payments] == [("p1", "rejected", "no")]
    assert money.promo_codes == []


async def test_history_leaves_the_live_set_and_is_still_found(
    storage: Storage, reopen: Reopen
) -> None:
    old = time.time() - 40 * DAY
    gone = payment("old", "rejected", created_at=old)
    live = payment("new")
    await storage.commit(Transaction(payments=[gone, live]))
    await storage.maintain()
    again = await reopen()
    assert [p.id for p in (await again.load_money()).payments] == ["new"]
    assert await again.find_payment("old") == gone
    assert await again.find_payment("new") == live
    assert await again.find_payment("none") is None
    assert sorted([p.id async for p in again.iter_payments()]) == ["new", "old"]
    assert [p.id async for p in again.iter_payments(created_since=old + 1)] == ["new"]
    changed = dataclasses.replace(live, status="expired")
    await again.commit(Transaction(payments=[changed]))
    assert [p.status async for p in again.iter_payments(created_since=old + 1)] == ["expired"]


# The money rules: ConflictError, nothing written -----------------------------------------
async def conflict(storage: Storage, transaction: Transaction) -> MoneyRule:
    with pytest.raises(ConflictError) as error:
        await storage.commit(transaction)
    return error.value.rule


async def test_a_payment_status_moves_only_forward(storage: Storage, reopen: Reopen) -> None:
    await storage.commit(Transaction(payments=[payment("p1")]))
    await storage.commit(Transaction(payments=[payment("p1", "paid")]))
    await storage.commit(Transaction(payments=[payment("p1", "paid", note="noted")]))
    again = await reopen()
    assert await conflict(again, Transaction(payments=[payment("p1")])) == MoneyRule.STATUS_FORWARD
    rejected = Transaction(payments=[payment("p1", "rejected")])
    assert await conflict(again, rejected) == MoneyRule.STATUS_FORWARD
    await again.commit(Transaction(payments=[payment("p1", "refunded")]))


async def test_one_open_invoice_per_user_plan_and_method(storage: Storage) -> None:
    start = time.time()
    await storage.commit(Transaction(payments=[payment("p1", created_at=start)]))
    second = Transaction(payments=[payment("p2", created_at=start + 10)])
    assert await conflict(storage, second) == MoneyRule.ONE_OPEN_INVOICE
    await storage.commit(Transaction(payments=[payment("p3", method="sbp", created_at=start)]))
    await storage.commit(Transaction(payments=[payment("p4", user_id=2, created_at=start)]))
    # Near its expiry an invoice is replaced by a new one; an expired one frees the place.
    await storage.commit(Transaction(payments=[payment("p5", created_at=start + DAY - 60)]))
    expired = payment("p5", "expired", created_at=start + DAY - 60)
    await storage.commit(Transaction(payments=[expired, payment("p6", created_at=start + DAY)]))


async def test_a_money_event_is_recorded_once(storage: Storage, reopen: Reopen) -> None:
    credited = payment("p1", "paid", operation_id="op1", operations=("op1",))
    await storage.commit(Transaction(payments=[credited]))
    await storage.commit(Transaction(unmatched=[unmatched("yoomoney:op2")]))
    again = await reopen()
    twice = payment("p2", "paid", user_id=2, operation_id="op1", operations=("op1",))
    assert await conflict(again, Transaction(payments=[twice])) == MoneyRule.MONEY_EVENT_ONCE
    recorded_again = Transaction(unmatched=[unmatched("yoomoney:op2", reason="paid")])
    assert await conflict(again, recorded_again) == MoneyRule.MONEY_EVENT_ONCE
    settled = unmatched("yoomoney:op2", resolved_at=time.time(), resolved_by=7)
    await again.commit(Transaction(unmatched=[settled]))
    stars = payment("p3", "paid", method="stars", charge_id="ch1")
    await again.commit(Transaction(payments=[stars]))
    same_charge = payment("p4", "paid", method="stars", user_id=3, charge_id="ch1")
    assert await conflict(again, Transaction(payments=[same_charge])) == MoneyRule.MONEY_EVENT_ONCE


async def test_a_stars_charge_is_credited_once(storage: Storage) -> None:
    now = time.time()
    first = StarsSubscription("sub1", 1, "premium1", 100, now, now, "ch1", ("ch1",))
    await storage.commit(Transaction(stars_subscriptions=[first]))
    await storage.commit(
        Transaction(stars_subscriptions=[dataclasses.replace(first, charges=("ch1", "ch2"))])
    )
    other = StarsSubscription("sub2", 2, "premium1", 100, now, now, "ch2", ("ch2",))
    assert (
        await conflict(storage, Transaction(stars_subscriptions=[other]))
        == MoneyRule.STARS_CHARGE_ONCE
    )
    doubled = dataclasses.replace(first, charges=("ch1", "ch2", "ch2"))
    assert (
        await conflict(storage, Transaction(stars_subscriptions=[doubled]))
        == MoneyRule.STARS_CHARGE_ONCE
    )


async def test_a_promo_code_once_per_user_and_within_its_uses(
    storage: Storage, reopen: Reopen
) -> None:
    now = time.time()
    await storage.commit(
        Transaction(promo_codes=[PromoCode("TWO", "premium1", 7, 2, None, now, 1)])
    )
    await storage.commit(Transaction(promo_activations=[PromoActivation("TWO", 1, now)]))
    again = await reopen()
    once = Transaction(promo_activations=[PromoActivation("TWO", 1, now + 1)])
    assert await conflict(again, once) == MoneyRule.PROMO_ONCE_PER_USER
    await again.commit(Transaction(promo_activations=[PromoActivation("TWO", 2, now)]))
    third = Transaction(promo_activations=[PromoActivation("TWO", 3, now)])
    assert await conflict(again, third) == MoneyRule.PROMO_MAX_USES


async def test_referral_codes_invitations_and_rewards(storage: Storage, reopen: Reopen) -> None:
    now = time.time()
    await storage.commit(Transaction(referral_codes=[ReferralCode(1, "abc", now)]))
    await storage.commit(Transaction(referrals=[Referral(2, 1, now)]))
    rewarded = Referral(2, 1, now, payment_id="p1", paid_at=now, reward_plan="premium1")
    await storage.commit(Transaction(referrals=[rewarded]))
    again = await reopen()
    taken = Transaction(referral_codes=[ReferralCode(3, "abc", now)])
    assert await conflict(again, taken) == MoneyRule.REFERRAL_CODE_UNIQUE
    second_code = Transaction(referral_codes=[ReferralCode(1, "xyz", now)])
    assert await conflict(again, second_code) == MoneyRule.REFERRAL_CODE_UNIQUE
    invited_again = Transaction(referrals=[Referral(2, 5, now)])
    assert await conflict(again, invited_again) == MoneyRule.INVITED_ONCE
    second_reward = dataclasses.replace(rewarded, payment_id="p2")
    assert await conflict(again, Transaction(referrals=[second_reward])) == MoneyRule.REWARD_ONCE
    await again.commit(Transaction(referrals=[dataclasses.replace(rewarded, refunded_at=now)]))


async def test_a_refused_commit_writes_nothing_and_claims_nothing(
    storage: Storage, reopen: Reopen
) -> None:
    now = time.time()
    await storage.commit(
        Transaction(promo_codes=[PromoCode("ONE", "premium1", 7, 1, None, now, 1)])
    )
    await storage.commit(Transaction(promo_activations=[PromoActivation("ONE", 1, now)]))
    period = Subscription(2, "premium1", (Period(now, now + 7 * DAY, "promo:ONE"),))
    refused = Transaction(
        payments=[payment("p9")],
        subscriptions=[period],
        promo_activations=[PromoActivation("ONE", 2, now)],
    )
    assert await conflict(storage, refused) == MoneyRule.PROMO_MAX_USES
    # The invoice in the refused transaction claimed no place: another one may open.
    await storage.commit(Transaction(payments=[payment("p10")]))
    money = await (await reopen()).load_money()
    assert money.subscriptions == [] and [p.id for p in money.payments] == ["p10"]
    assert [a.user_id for a in money.promo_activations] == [1]


# Queries: users by @username, broadcast recipients ---------------------------------------
async def test_a_user_is_found_by_username_also_after_a_rename(
    storage: Storage, reopen: Reopen
) -> None:
    await storage.save_user(UserRecord(id=1, username="Anna_K"))
    await storage.save_user(UserRecord(id=2, username="bob"))
    await storage.save_user(UserRecord(id=3))
    again = await reopen()
    found = await again.find_user_by_username("anna_k")
    assert found is not None and found.id == 1
    assert await again.find_user_by_username("nobody") is None
    await again.save_user(UserRecord(id=1, username="anna_new"))  # after the first search
    await again.save_user(UserRecord(id=4, username="Dan"))
    assert await again.find_user_by_username("anna_k") is None
    assert [await again.find_user_by_username(name) for name in ("ANNA_NEW", "dan")] == [
        UserRecord(id=1, username="anna_new"),
        UserRecord(id=4, username="Dan"),
    ]
    await again.save_user(UserRecord(id=2, username="anna_k"))  # the name now someone else's
    taken = await again.find_user_by_username("Anna_K")
    assert taken is not None and taken.id == 2


async def test_recipients_are_the_users_who_have_not_blocked_the_bot(
    storage: Storage, reopen: Reopen
) -> None:
    for user_id, blocked in ((3, False), (1, True), (2, False)):
        await storage.save_user(UserRecord(id=user_id, blocked=blocked))
    assert await storage.unblocked_user_ids() == [2, 3]
    await storage.save_user(UserRecord(id=1))  # wrote again: unblocked
    assert await (await reopen()).unblocked_user_ids() == [1, 2, 3]


# Statistics, broadcasts, state -----------------------------------------------------------
async def test_statistics_documents(storage: Storage, reopen: Reopen) -> None:
    assert await storage.load_stats("2026-12-14") is None
    assert storage.load_stats_now("month-2026-12") is None
    day = {"new_users": 3, "active": [1, 2, 3], "usage": {"1:gpt-5-nano": [2, 150]}}
    await storage.save_stats("2026-12-14", day)
    await storage.save_stats("month-2026-12", {"tokens": {"8:premium1": 700}})
    again = await reopen()
    assert await again.load_stats("2026-12-14") == day
    assert again.load_stats_now("month-2026-12") == {"tokens": {"8:premium1": 700}}
    assert await again.load_stats("2026-12-15") is None


async def test_broadcast_headers_and_delivery_logs(storage: Storage, reopen: Reopen) -> None:
    assert await storage.load_broadcast("b1") is None
    assert await storage.load_broadcasts() == []
    assert await storage.read_deliveries("b1") == (set(), {})
    broadcast = Broadcast("b1", created_by=1, created_at=5.0, text="<b>hi</b>", status="running")
    await storage.save_broadcast(broadcast)
    broadcast.delivered = 99  # not saved
    log = await storage.open_deliveries("b1")
    for user_id, outcome in ((10, "delivered"), (11, "blocked"), (12, "failed")):
        await log.tried(user_id)
        await log.done(user_id, outcome)  # type: ignore[arg-type]
    await log.tried(13)  # a crash before its outcome
    await log.close()
    again = await reopen()
    saved = Broadcast("b1", created_by=1, created_at=5.0, text="<b>hi</b>", status="running")
    assert await again.load_broadcast("b1") == saved
    assert await again.load_broadcasts() == [saved]
    tried, outcomes = await again.read_deliveries("b1")
    assert tried == {10, 11, 12, 13}
    assert outcomes == {10: "delivered", 11: "blocked", 12: "failed"}
    resumed = await again.open_deliveries("b1")  # resuming appends to the same log
    await resumed.tried(14)
    await resumed.close()
    assert (await again.read_deliveries("b1"))[0] == {10, 11, 12, 13, 14}


async def test_state_markers(storage: Storage, reopen: Reopen) -> None:
    assert await storage.load_state("model_check") is None
    await storage.save_state("model_check", {"missing": {"gpt-4o-mini": "old"}})
    await storage.save_state("model_check", {"missing": {}, "checked_at": 1.5})
    again = await reopen()
    assert await again.load_state("model_check") == {"missing": {}, "checked_at": 1.5}
