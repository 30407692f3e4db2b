"""Users, conversations, their memories and pictures in PostgreSQL.

Nothing is cached in the process: another process may have written the row since."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from services.models import ChatTurn, Conversations, UserRecord
from services.storage import records
from services.storage.images import image_type, new_image_id
from services.storage.postgres.connection import Conn, Database

BATCH = 1000

_SAVE_USER = """
INSERT INTO users (id, username_lower, blocked, record) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
    username_lower = EXCLUDED.username_lower, blocked = EXCLUDED.blocked, record = EXCLUDED.record
"""


class People:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Users --------------------------------------------------------------------------------
    async def get_user(self, user_id: int) -> UserRecord | None:
        raw = await self._db.run(
            "reading a user",
            lambda conn: conn.fetchval("SELECT record FROM users WHERE id = $1", user_id),
        )
        return records.user_from_json(raw) if raw is not None else None

    async def save_user(self, user: UserRecord) -> None:
        name = user.username.lower() if user.username else None
        await self._db.run(
            "saving a user",
            lambda conn: conn.execute(_SAVE_USER, user.id, name, user.blocked, user),
        )

    async def count_users(self) -> int:
        count = await self._db.run(
            "counting users", lambda conn: conn.fetchval("SELECT count(*) FROM users")
        )
        return int(count)

    async def iter_users(self) -> AsyncIterator[UserRecord]:
        """By id, a batch at a time (no connection held between batches)."""
        after = -(2**63)
        while True:
            batch = await self._db.fetch(
                "reading users",
                "SELECT id, record FROM users WHERE id > $1 ORDER BY id LIMIT $2",
                after,
                BATCH,
            )
            for row in batch:
                yield records.user_from_json(row["record"])
            if len(batch) < BATCH:
                return
            after = batch[-1]["id"]

    async def find_user_by_username(self, username: str) -> UserRecord | None:
        raw = await self._db.run(
            "finding a user",
            lambda conn: conn.fetchval(
                "SELECT record FROM users WHERE username_lower = $1 ORDER BY id LIMIT 1",
                username.lower(),
            ),
        )
        return records.user_from_json(raw) if raw is not None else None

    async def unblocked_user_ids(self) -> list[int]:
        rows = await self._db.run(
            "listing recipients",
            lambda conn: conn.fetch("SELECT id FROM users WHERE NOT blocked ORDER BY id"),
        )
        return [row["id"] for row in rows]

    # Conversations ------------------------------------------------------------------------
    async def load_conversations(self, owner: int) -> Conversations | None:
        raw = await self._db.run(
            "reading conversations",
            lambda conn: conn.fetchval("SELECT record FROM conversations WHERE owner = $1", owner),
        )
        return records.conversations_from_json(raw) if raw is not None else None

    async def save_conversations(self, owner: int, conversations: Conversations) -> None:
        await self._db.run(
            "saving conversations",
            lambda conn: conn.execute(
                "INSERT INTO conversations (owner, record) VALUES ($1, $2)"
                " ON CONFLICT (owner) DO UPDATE SET record = EXCLUDED.record",
                owner,
                conversations,
            ),
        )

    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        raw = await self._db.run(
            "reading a memory",
            lambda conn: conn.fetchval(
                "SELECT turns FROM history WHERE owner = $1 AND conversation_id = $2",
                owner,
                conversation_id,
            ),
        )
        return [turn_from_json(item) for item in raw or ()]

    async def save_history(self, owner: int, conversation_id: str, turns: list[ChatTurn]) -> None:
        stored = [turn_record(turn) for turn in turns]
        await self._db.run(
            "saving a memory",
            lambda conn: conn.execute(
                "INSERT INTO history (owner, conversation_id, turns) VALUES ($1, $2, $3)"
                " ON CONFLICT (owner, conversation_id) DO UPDATE SET turns = EXCLUDED.turns",
                owner,
                conversation_id,
                stored,
            ),
        )

    async def delete_history(self, owner: int, conversation_id: str) -> None:
        await self._db.run(
            "deleting a memory", lambda conn: _delete_history(conn, owner, conversation_id)
        )

    async def save_image(
        self, owner: int, conversation_id: str, data: bytes, mime_type: str
    ) -> str:
        image_id = new_image_id(mime_type)
        await self._db.run(
            "saving a picture",
            lambda conn: conn.execute(
                "INSERT INTO images (owner, conversation_id, image_id, mime_type, data)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                owner,
                conversation_id,
                image_id,
                mime_type,
                data,
            ),
        )
        return image_id

    async def load_image(
        self, owner: int, conversation_id: str, image_id: str
    ) -> tuple[bytes, str] | None:
        if image_type(image_id) is None:
            return None
        row = await self._db.run(
            "reading a picture",
            lambda conn: conn.fetchrow(
                "SELECT data, mime_type FROM images"
                " WHERE owner = $1 AND conversation_id = $2 AND image_id = $3",
                owner,
                conversation_id,
                image_id,
            ),
        )
        return (bytes(row["data"]), row["mime_type"]) if row is not None else None

    async def forget(self, owner: int) -> None:
        await self._db.run("forgetting an owner", lambda conn: _forget(conn, owner))


async def _delete_history(conn: Conn, owner: int, conversation_id: str) -> None:
    async with conn.transaction():
        for table in ("history", "images"):
            await conn.execute(
                f"DELETE FROM {table} WHERE owner = $1 AND conversation_id = $2",
                owner,
                conversation_id,
            )


async def _forget(conn: Conn, owner: int) -> None:
    async with conn.transaction():
        for table in ("conversations", "history", "images"):
            await conn.execute(f"DELETE FROM {table} WHERE owner = $1", owner)


def turn_record(turn: ChatTurn) -> dict[str, object]:
    """A turn as the JSON store keeps it (`images` only when it has any)."""
    record: dict[str, object] = {"role": turn.role, "content": turn.content}
    if turn.images:
        record["images"] = turn.images
    return record


def turn_from_json(item: dict[str, Any]) -> ChatTurn:
    return ChatTurn(item["role"], item["content"], tuple(item.get("images", ())))
