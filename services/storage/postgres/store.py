"""Storage on PostgreSQL (asyncpg, raw SQL): the facade over its parts.

- `connection`: the pool, retries while the server is away, the health probe;
- `migrations`: numbered SQL files applied at open, under an advisory lock;
- `people`: users, conversations, memories and pictures;
- `money` and `money_rules`: commits through the rules, the live set, history, and the
  money log other processes read (`money_changes`);
- `documents`: statistics, state, broadcasts and their delivery logs;
- `decisions`: the lock that holds every process's money decisions one at a time;
- `leader`: a singleton lock for background jobs (not part of Storage).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from services.models import Broadcast, ChatTurn, Conversations, Payment, UserRecord
from services.storage.base import (
    DeliveryLog,
    Document,
    MoneyState,
    Retention,
    Storage,
    Transaction,
)
from services.storage.postgres import migrations
from services.storage.postgres.cache import CachedPeople
from services.storage.postgres.connection import Conn, Database
from services.storage.postgres.decisions import Decisions
from services.storage.postgres.documents import Documents
from services.storage.postgres.money import MoneyTables
from services.storage.postgres.people import People

logger = logging.getLogger(__name__)

Listener = Callable[[str], Awaitable[object]]

_OPENED = """
INSERT INTO writers (kind, source) VALUES ('store', '')
ON CONFLICT (kind, source) DO UPDATE SET last_at = now()
"""


class PostgresStorage(Storage):
    shared = True

    def __init__(
        self,
        dsn: str,
        retention: Retention,
        *,
        schema: str | None = None,
        retry_seconds: float | None = None,
        exclusive: bool = False,
    ) -> None:
        """`exclusive`: this process alone uses the database (no Redis: one process per
        database), so users, conversation lists and memories are also kept in memory."""
        self.retention = retention
        self.db = Database(dsn, schema=schema)
        if retry_seconds is not None:
            self.db.retry_seconds = retry_seconds
        self.problem_listeners: list[Listener] = []  # the JSON store's; nothing to tell yet
        self._people = People(self.db)
        self._person: People | CachedPeople = (
            CachedPeople(self._people) if exclusive else self._people
        )
        self._money = MoneyTables(self.db, retention)
        self._documents = Documents(self.db)
        self._decisions = Decisions(self.db)

    # Lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        await self.db.open()

        async def migrate(conn: Conn) -> list[int]:
            applied = await migrations.migrate(conn)
            await conn.execute(_OPENED)
            return applied

        applied = await self.db.run("migrating", migrate)
        logger.info(
            "Storage: PostgreSQL %s%s",
            self.db.label,
            f" (migrations {applied} applied)" if applied else "",
        )

    async def close(self) -> None:
        self._documents.close()
        await self._decisions.close()
        await self.db.close()

    async def health_problem(self) -> str | None:
        """Why the database cannot be used now (a quick probe on the pool), or None."""
        return await self.db.problem()

    # Users -------------------------------------------------------------------------------
    async def get_user(self, user_id: int) -> UserRecord | None:
        return await self._person.get_user(user_id)

    async def save_user(self, user: UserRecord) -> None:
        await self._person.save_user(user)

    async def count_users(self) -> int:
        return await self._people.count_users()

    def iter_users(self) -> AsyncIterator[UserRecord]:
        return self._people.iter_users()

    async def find_user_by_username(self, username: str) -> UserRecord | None:
        return await self._people.find_user_by_username(username)

    async def unblocked_user_ids(self) -> list[int]:
        return await self._people.unblocked_user_ids()

    # Conversations -----------------------------------------------------------------------
    async def load_conversations(self, owner: int) -> Conversations | None:
        return await self._person.load_conversations(owner)

    async def save_conversations(self, owner: int, conversations: Conversations) -> None:
        await self._person.save_conversations(owner, conversations)

    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        return await self._person.load_history(owner, conversation_id)

    async def save_history(self, owner: int, conversation_id: str, turns: list[ChatTurn]) -> None:
        await self._person.save_history(owner, conversation_id, turns)

    async def delete_history(self, owner: int, conversation_id: str) -> None:
        await self._person.delete_history(owner, conversation_id)

    async def save_image(
        self, owner: int, conversation_id: str, data: bytes, mime_type: str
    ) -> str:
        return await self._people.save_image(owner, conversation_id, data, mime_type)

    async def load_image(
        self, owner: int, conversation_id: str, image_id: str
    ) -> tuple[bytes, str] | None:
        return await self._people.load_image(owner, conversation_id, image_id)

    async def forget(self, owner: int) -> None:
        await self._person.forget(owner)

    # Money -------------------------------------------------------------------------------
    async def load_money(self) -> MoneyState:
        return await self._money.load()

    async def commit(self, transaction: Transaction) -> None:
        await self._money.commit(transaction)

    @contextlib.asynccontextmanager
    async def money_decision(self) -> AsyncIterator[None]:
        async with self._decisions.held():
            yield

    async def money_changes(self) -> list[Transaction]:
        return await self._money.changes()

    async def find_payment(self, payment_id: str) -> Payment | None:
        return await self._money.find_payment(payment_id)

    def iter_payments(self, created_since: float = 0.0) -> AsyncIterator[Payment]:
        return self._money.iter_payments(created_since)

    async def maintain(self) -> None:
        await self._money.maintain()

    # Statistics, broadcasts, state -------------------------------------------------------
    async def load_stats(self, name: str) -> Document | None:
        return await self._documents.load_stats(name)

    def load_stats_now(self, name: str) -> Document | None:
        return self._documents.load_stats_now(name)

    async def save_stats(self, name: str, document: Document) -> None:
        await self._documents.save_stats(name, document)

    async def update_stats(
        self, name: str, change: Callable[[Document | None], Document]
    ) -> Document:
        return await self._documents.update_stats(name, change)

    async def save_broadcast(self, broadcast: Broadcast) -> None:
        await self._documents.save_broadcast(broadcast)

    async def load_broadcast(self, broadcast_id: str) -> Broadcast | None:
        return await self._documents.load_broadcast(broadcast_id)

    async def load_broadcasts(self) -> list[Broadcast]:
        return await self._documents.load_broadcasts()

    async def read_deliveries(self, broadcast_id: str) -> tuple[set[int], dict[int, str]]:
        return await self._documents.read_deliveries(broadcast_id)

    async def open_deliveries(self, broadcast_id: str) -> DeliveryLog:
        return await self._documents.open_deliveries(broadcast_id)

    async def load_state(self, name: str) -> Document | None:
        return await self._documents.load_state(name)

    async def save_state(self, name: str, document: Document) -> None:
        await self._documents.save_state(name, document)
