"""Two processes on one shared store make their money decisions on current records:
each takes in the other's commits before deciding (MoneySync), so nothing paid is lost
or granted twice, whichever process handles what."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from zoneinfo import ZoneInfo

import pytest

from runtime.money_sync import sync_loop
from services.catalog import Catalog
from services.chat.chat import ChatService
from services.chat.conversations import ConversationService
from services.chat.refusals import ChatRefusalError, Refusal
from services.limits.access import AccessService
from services.limits.quota import QuotaService
from services.models import UserRecord
from services.money.payments import MoneyArrival
from services.money.promo import PromoError
from services.operator.alerts import AlertService
from services.operator.stats import StatsService
from services.storage.base import ConflictError, MoneyRule, Storage, Transaction
from services.storage.memory import MemoryStorage
from services.storage.postgres import PostgresStorage
from tests.postgres import database_url, fresh_schema
from tests.unit.conftest import RETENTION, Money, open_money_on
from tests.unit.test_chat import ScriptedLLM
from tests.unit.test_storage_contract import payment

USER = 900
DAY = 86_400.0


Pair = tuple[Money, Money]
Processes = Callable[[], Awaitable[Pair]]


@pytest.fixture(params=["memory", "postgres"])
async def two_processes(
    request: pytest.FixtureRequest, catalog: Catalog
) -> AsyncIterator[Processes]:
    """Two processes' money services on one shared store: PostgreSQL (a fresh schema),
    or a database played in memory (MemoryStorage.another_process)."""
    async with contextlib.AsyncExitStack() as stack:
        schema = (
            await stack.enter_async_context(fresh_schema()) if request.param == "postgres" else None
        )
        stores: list[Storage] = []

        def store() -> Storage:
            if schema is not None:
                made: Storage = PostgresStorage(database_url(), RETENTION, schema=schema)
            elif stores:
                made = stores[0].another_process()  # type: ignore[attr-defined]
            else:
                made = MemoryStorage(RETENTION)
            stores.append(made)
            return made

        async def pair() -> Pair:
            first, second = store(), store()
            return await open_money_on(first, catalog), await open_money_on(second, catalog)

        yield pair
        for made in stores:
            await made.close()


def plan_end(money: Money, user_id: int, plan_id: str) -> float:
    (plan,) = [p for p in money.subscriptions.active_plans(user_id) if p.plan.id == plan_id]
    return plan.end


async def test_a_plan_paid_on_one_process_is_extended_not_replaced_on_the_other(
    two_processes: Processes,
) -> None:
    first, second = await two_processes()
    now = time.time()
    await first.subscriptions.grant(USER, "premium1", 30, "payment:a", now)
    await second.subscriptions.grant(USER, "premium1", 30, "payment:b", now)  # stale memory
    for money in (first, second):
        await money.books.sync.catch_up()
        assert plan_end(money, USER, "premium1") == pytest.approx(now + 60 * DAY)
    state = await first.storage.load_money()  # as a restarted process reads it
    (held,) = [s for s in state.subscriptions if s.user_id == USER]
    assert held.end == pytest.approx(now + 60 * DAY)


async def test_one_payment_reported_to_both_processes_at_once_is_credited_once(
    two_processes: Processes,
) -> None:
    first, second = await two_processes()
    invoice = await first.payments.open_invoice(USER, "premium1", "stars")
    charge = MoneyArrival("stars", "charge-1", invoice.amount, "XTR", invoice.id, user_id=USER)
    outcomes = await asyncio.gather(
        first.payments.accept_or_record(charge), second.payments.accept_or_record(charge)
    )
    credited = [o.credit for o in outcomes if o.credit is not None and o.credit.newly_paid]
    assert len(credited) == 1
    for money in (first, second):
        await money.books.sync.catch_up()
        (plan,) = money.subscriptions.active_plans(USER)
        assert plan.end == pytest.approx(credited[0].end)
        assert money.payments.get(invoice.id).status == "paid"  # type: ignore[union-attr]
        assert money.payments.unmatched() == []


async def test_a_ten_use_code_activated_by_a_hundred_users_on_two_processes_gives_ten(
    two_processes: Processes,
) -> None:
    first, second = await two_processes()
    await first.promo.create("TEN", "ai_group", 7, created_by=1, max_uses=10)

    async def activate(money: Money, user_id: int) -> bool:
        try:
            await money.promo.activate(user_id, "TEN")
        except PromoError as refused:
            assert refused.text_key.endswith("used_up"), refused.text_key
            return False
        return True

    results = await asyncio.gather(
        *(activate(first if user % 2 else second, user) for user in range(1000, 1100))
    )
    assert sum(results) == 10
    state = await first.storage.load_money()
    assert len(state.promo_activations) == 10
    assert len([s for s in state.subscriptions if s.plan_id == "ai_group"]) == 10


async def test_an_invoice_opened_on_one_process_is_shown_again_by_the_other(
    two_processes: Processes,
) -> None:
    first, second = await two_processes()
    opened = await first.payments.open_invoice(USER, "premium1", "yoomoney")
    again = await second.payments.open_invoice(USER, "premium1", "yoomoney")
    assert again.id == opened.id
    state = await first.storage.load_money()
    assert [p.id for p in state.payments if p.status == "pending"] == [opened.id]


async def test_a_notice_committed_by_one_process_reaches_the_others_outbox(
    two_processes: Processes,
) -> None:
    first, second = await two_processes()
    invoice = await first.payments.open_invoice(USER, "premium1", "sbp")
    await first.payments.confirm(invoice.id, decided_by=1)  # tells the user via the outbox
    assert second.payments.outbox.pending() == []
    assert await second.books.sync.catch_up() >= 1
    assert [item.user_id for item in second.payments.outbox.pending()] == [USER]


async def test_a_commit_on_a_record_changed_meanwhile_is_stale_and_writes_nothing() -> None:
    """The store's own guard for a decision made outside MoneySync."""
    first = MemoryStorage(RETENTION)
    second = first.another_process()
    await first.load_money()
    await second.load_money()
    invoice = payment("p-stale")
    await first.commit(Transaction(payments=[invoice]))
    paid = dataclasses.replace(invoice, status="paid")
    with pytest.raises(ConflictError) as stale:
        await second.commit(Transaction(payments=[paid]))
    assert stale.value.rule is MoneyRule.STALE
    assert (await first.find_payment(invoice.id)).status == "pending"  # type: ignore[union-attr]
    assert [t.payments[0].id for t in await second.money_changes()] == [invoice.id]
    await second.commit(Transaction(payments=[paid]))  # current now
    assert [t.payments[0].status for t in await first.money_changes()] == ["paid"]


async def test_the_background_catch_up_shows_a_plan_paid_through_the_other_process(
    two_processes: Processes,
) -> None:
    first, second = await two_processes()
    loop = asyncio.create_task(sync_loop(second.books.sync, interval=0.01))
    try:
        await first.subscriptions.grant(USER, "ai_group", 30, "payment:x")
        for _ in range(200):
            if second.subscriptions.active_plans(USER):
                break
            await asyncio.sleep(0.01)
        assert [p.plan.id for p in second.subscriptions.active_plans(USER)] == ["ai_group"]
    finally:
        loop.cancel()


async def test_a_plan_revoked_through_one_process_closes_its_models_on_the_other_at_once(
    two_processes: Processes, catalog: Catalog
) -> None:
    """Access is read from memory; on a shared store the chat takes in the others' money
    before checking it, so a revoked or refunded plan grants nothing more."""
    first, second = await two_processes()
    await first.subscriptions.grant(USER, "premium1", 30, "payment:y")
    chat, _, _, _ = await make_chat_on(second, catalog)
    user = UserRecord(id=USER, model_key="gpt-4o-mini")  # a Premium 1 model
    assert (await chat.admit(user, "вопрос")).model.key == "gpt-4o-mini"
    await first.subscriptions.revoke(USER, "premium1")
    with pytest.raises(ChatRefusalError) as refused:
        await chat.admit(user, "ещё вопрос")  # no wait for the background catch-up
    assert refused.value.reason is Refusal.LOCKED


async def make_chat_on(
    money: Money, catalog: Catalog
) -> tuple[ChatService, ScriptedLLM, StatsService, AccessService]:
    """A chat service on the process's own money services, wired as the container does."""
    zone = ZoneInfo("Europe/Moscow")
    stats = StatsService(money.storage, zone)
    access = AccessService(catalog, money.subscriptions)
    llm = ScriptedLLM(catalog)
    chat = ChatService(
        catalog,
        llm,
        money.storage,
        access,
        AlertService(),
        stats,
        ConversationService(money.storage, catalog),
        QuotaService(catalog, access, stats, zone),
    )
    chat.before_admission = money.books.sync.catch_up
    return chat, llm, stats, access
