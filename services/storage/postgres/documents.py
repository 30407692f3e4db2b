"""Statistics and state documents, broadcasts and their delivery logs in PostgreSQL.

A delivery log is a row per user and broadcast (unique): `tried` inserts it before the
send, `done` sets its outcome; a user with a row is never sent to again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Callable

from services.models import Broadcast, DeliveryOutcome
from services.storage.base import DeliveryLog, Document
from services.storage.postgres.connection import Conn, Database, describe

BLOCKING_READ_TIMEOUT = 10.0  # seconds load_stats_now may hold the caller


class Documents:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._reader = concurrent.futures.ThreadPoolExecutor(1, "stats-now")

    def close(self) -> None:
        self._reader.shutdown(wait=False)

    # Statistics ---------------------------------------------------------------------------
    async def load_stats(self, name: str) -> Document | None:
        return await self._load("stats_documents", name)

    def load_stats_now(self, name: str) -> Document | None:
        """A blocking read on a connection of its own, in a thread with its own loop (the
        caller is the event loop; it happens when a day or month is first counted)."""
        future = self._reader.submit(asyncio.run, self._read_alone(name))
        try:
            return future.result(timeout=BLOCKING_READ_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise OSError(f"statistics {name}: the database did not answer in time") from None
        except Exception as error:
            raise OSError(f"statistics {name}: {describe(error)}") from error

    async def _read_alone(self, name: str) -> Document | None:
        conn = await self._db.connect()
        try:
            document: Document | None = await conn.fetchval(
                "SELECT document FROM stats_documents WHERE name = $1", name
            )
            return document
        finally:
            await conn.close()

    async def save_stats(self, name: str, document: Document) -> None:
        await self._save("stats_documents", name, document)

    async def update_stats(
        self, name: str, change: Callable[[Document | None], Document]
    ) -> Document:
        """Read, change and write in one transaction, the row locked (made first if new,
        so two processes' first counts of a day do not race to insert it)."""

        async def update(conn: Conn) -> Document:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO stats_documents (name, document) VALUES ($1, 'null'::jsonb)"
                    " ON CONFLICT (name) DO NOTHING",
                    name,
                )
                stored = await conn.fetchval(
                    "SELECT document FROM stats_documents WHERE name = $1 FOR UPDATE", name
                )
                document = change(stored)
                await conn.execute(
                    "UPDATE stats_documents SET document = $2 WHERE name = $1", name, document
                )
            return document

        return await self._db.run("updating statistics", update)

    # State --------------------------------------------------------------------------------
    async def load_state(self, name: str) -> Document | None:
        return await self._load("state_documents", name)

    async def save_state(self, name: str, document: Document) -> None:
        await self._save("state_documents", name, document)

    async def _load(self, table: str, name: str) -> Document | None:
        document: Document | None = await self._db.run(
            f"reading {table}",
            lambda conn: conn.fetchval(f"SELECT document FROM {table} WHERE name = $1", name),
        )
        return document

    async def _save(self, table: str, name: str, document: Document) -> None:
        await self._db.run(
            f"saving {table}",
            lambda conn: conn.execute(
                f"INSERT INTO {table} (name, document) VALUES ($1, $2)"
                " ON CONFLICT (name) DO UPDATE SET document = EXCLUDED.document",
                name,
                document,
            ),
        )

    # Broadcasts ---------------------------------------------------------------------------
    async def save_broadcast(self, broadcast: Broadcast) -> None:
        snapshot = dataclasses.asdict(broadcast)
        await self._db.run(
            "saving a broadcast",
            lambda conn: conn.execute(
                "INSERT INTO broadcasts (id, record) VALUES ($1, $2)"
                " ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                broadcast.id,
                snapshot,
            ),
        )

    async def load_broadcast(self, broadcast_id: str) -> Broadcast | None:
        raw = await self._db.run(
            "reading a broadcast",
            lambda conn: conn.fetchval("SELECT record FROM broadcasts WHERE id = $1", broadcast_id),
        )
        return Broadcast(**raw) if raw is not None else None

    async def load_broadcasts(self) -> list[Broadcast]:
        rows = await self._db.run(
            "reading broadcasts",
            lambda conn: conn.fetch("SELECT record FROM broadcasts ORDER BY id"),
        )
        return [Broadcast(**row["record"]) for row in rows]

    async def read_deliveries(self, broadcast_id: str) -> tuple[set[int], dict[int, str]]:
        rows = await self._db.run(
            "reading deliveries",
            lambda conn: conn.fetch(
                "SELECT user_id, outcome FROM broadcast_deliveries WHERE broadcast_id = $1",
                broadcast_id,
            ),
        )
        tried = {row["user_id"] for row in rows}
        outcomes = {row["user_id"]: row["outcome"] for row in rows if row["outcome"] is not None}
        return tried, outcomes

    async def open_deliveries(self, broadcast_id: str) -> DeliveryLog:
        return PostgresDeliveryLog(self._db, broadcast_id)


class PostgresDeliveryLog(DeliveryLog):
    def __init__(self, db: Database, broadcast_id: str) -> None:
        self._db = db
        self._broadcast_id = broadcast_id

    async def tried(self, user_id: int) -> bool:
        """The row's insert is the claim: of two processes, one gets it."""
        inserted = await self._db.run(
            "marking a delivery tried",
            lambda conn: conn.fetchval(
                "INSERT INTO broadcast_deliveries (broadcast_id, user_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING true",
                self._broadcast_id,
                user_id,
            ),
        )
        return bool(inserted)

    async def done(self, user_id: int, outcome: DeliveryOutcome) -> None:
        await self._db.run(
            "recording a delivery",
            lambda conn: conn.execute(
                "INSERT INTO broadcast_deliveries (broadcast_id, user_id, outcome)"
                " VALUES ($1, $2, $3)"
                " ON CONFLICT (broadcast_id, user_id) DO UPDATE SET outcome = EXCLUDED.outcome",
                self._broadcast_id,
                user_id,
                outcome,
            ),
        )

    async def close(self) -> None:
        pass
