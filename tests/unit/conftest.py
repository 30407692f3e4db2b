from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.catalog import Catalog, load_catalog
from services.money.books import MoneyBooks, open_books
from services.money.payments import PaymentService
from services.money.payments.records import REUSE_MARGIN
from services.money.promo import PromoService
from services.money.subscriptions import SubscriptionService
from services.shared.state import SharedState
from services.storage.base import DAY, Retention, Storage
from services.storage.json_store import JsonStorage
from tests.conftest import delete_prefix, redis_client, unique_prefix

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.toml")


INVOICE_TTL = DAY
RETENTION = Retention(
    open_payment_seconds=8 * DAY, invoice_reuse_seconds=INVOICE_TTL - REUSE_MARGIN
)


@dataclass
class Money:
    storage: Storage
    subscriptions: SubscriptionService
    payments: PaymentService
    promo: PromoService
    books: MoneyBooks


@dataclass
class JsonMoney(Money):
    storage: JsonStorage


async def open_money(data_dir: Path, catalog: Catalog) -> JsonMoney:
    """The money services over a JSON store, loaded as at start-up (a restart each call)."""
    storage = JsonStorage(data_dir, RETENTION)
    money = await open_money_on(storage, catalog)
    return JsonMoney(storage, money.subscriptions, money.payments, money.promo, money.books)


async def open_money_on(storage: Storage, catalog: Catalog) -> Money:
    """The money services over `storage`, loaded as at start-up (a restart each call:
    a memory store plays a database that outlives the process), wired as in production."""
    await storage.open()
    books = await open_books(
        storage,
        await storage.load_money(),
        catalog,
        RETENTION,
        zone=ZoneInfo("Europe/Moscow"),
        invoice_ttl=INVOICE_TTL,
    )
    return Money(storage, books.subscriptions, books.payments, books.promo, books)


@pytest.fixture(params=["memory", "redis"])
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[SharedState | None]:
    """What is shared between processes: None (one process, in memory), then Redis under
    a prefix of the test's own; a test taking it runs on both."""
    if request.param == "memory":
        yield None
        return
    client = await redis_client()
    state = SharedState(client, unique_prefix())
    yield state
    await delete_prefix(client, state.prefix)
    await client.aclose()


async def another_process(shared: SharedState) -> SharedState:
    """The same shared state as another process sees it (a client of its own; closed by
    the caller, its keys deleted with the first's)."""
    return SharedState(await redis_client(), shared.prefix)
