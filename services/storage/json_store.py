"""Storage on JSON files under DATA_DIR; every write costs O(1) in the data's size.

One facade over parts split as the data is:
- `json_users`: `users/<id>.json`, one small file per user, and the username index;
- `json_conversations`: conversation lists, memories and pictures, per owner;
- `json_money`: the money journal beside one snapshot per table, and its compaction;
- `json_archive`: money history read on demand (monthly archives);
- `json_upgrade`: the one-time conversion of the previous version's files;
- `json_documents`: statistics, broadcasts and state markers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from services.models import Broadcast, ChatTurn, Conversations, Payment, UserRecord
from services.storage import json_archive, records
from services.storage.atomic import remove_temp_files
from services.storage.base import (
    DeliveryLog,
    Document,
    MoneyState,
    Retention,
    Storage,
    Transaction,
)
from services.storage.json_conversations import ConversationFiles
from services.storage.json_documents import DocumentFiles
from services.storage.json_files import DataFiles, Listener, stream
from services.storage.json_money import MoneyFiles, load_live_records, read_live_records
from services.storage.json_users import UserFiles

__all__ = ["JsonStorage", "Listener", "load_live_records", "read_live_records"]

logger = logging.getLogger(__name__)

HISTORY_CACHE_CHARS = 20_000_000  # characters of conversation kept in memory


class JsonStorage(Storage):
    def __init__(self, data_dir: Path, retention: Retention) -> None:
        self.data_dir = data_dir
        self.retention = retention
        self._files = DataFiles(data_dir)
        # Told about write failures and quarantined files (admins get an alert).
        self.problem_listeners = self._files.problem_listeners
        self._users = UserFiles(self._files)
        self._conversations = ConversationFiles(self._files, HISTORY_CACHE_CHARS)
        self._money = MoneyFiles(self._files, retention)
        self._documents = DocumentFiles(data_dir)

    # Lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        folders = (self.data_dir, self._users.folder, self._conversations.history_folder)
        documents = (self._documents.stats_folder, self._documents.broadcasts_folder)
        for folder in (*folders, self._conversations.folder, *documents):
            folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._remove_temp_files, folders)
        await self._money.open()

    async def close(self) -> None:
        await self._money.close()
        await self._files.writer.drain()
        await self._documents.close()

    def _remove_temp_files(self, folders: tuple[Path, ...]) -> None:
        for folder in folders:
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    Path(entry.path).unlink(missing_ok=True)
                    logger.info("Removed unfinished write %s", entry.name)
        for folder in (self._documents.stats_folder, self._documents.broadcasts_folder):
            remove_temp_files(folder)

    # Users -------------------------------------------------------------------------------
    async def get_user(self, user_id: int) -> UserRecord | None:
        return await self._users.get(user_id)

    async def save_user(self, user: UserRecord) -> None:
        await self._users.save(user)

    async def count_users(self) -> int:
        return await self._users.count()

    def iter_users(self) -> AsyncIterator[UserRecord]:
        return self._users.iter()

    async def find_user_by_username(self, username: str) -> UserRecord | None:
        return await self._users.find_by_username(username)

    async def unblocked_user_ids(self) -> list[int]:
        return await self._users.unblocked_ids()

    # Conversations -----------------------------------------------------------------------
    async def load_conversations(self, owner: int) -> Conversations | None:
        return await self._conversations.load(owner)

    async def save_conversations(self, owner: int, conversations: Conversations) -> None:
        await self._conversations.save(owner, conversations)

    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        return await self._conversations.load_history(owner, conversation_id)

    async def save_history(self, owner: int, conversation_id: str, turns: list[ChatTurn]) -> None:
        await self._conversations.save_history(owner, conversation_id, turns)

    async def delete_history(self, owner: int, conversation_id: str) -> None:
        await self._conversations.delete_history(owner, conversation_id)

    async def save_image(
        self, owner: int, conversation_id: str, data: bytes, mime_type: str
    ) -> str:
        return await self._conversations.save_image(owner, conversation_id, data, mime_type)

    async def load_image(
        self, owner: int, conversation_id: str, image_id: str
    ) -> tuple[bytes, str] | None:
        return await self._conversations.load_image(owner, conversation_id, image_id)

    async def forget(self, owner: int) -> None:
        await self._conversations.forget(owner)

    # Money -------------------------------------------------------------------------------
    async def load_money(self) -> MoneyState:
        return await self._money.load()

    async def commit(self, transaction: Transaction) -> None:
        await self._money.commit(transaction)

    async def maintain(self) -> None:
        await self._money.maintain()

    async def find_payment(self, payment_id: str) -> Payment | None:
        raw = await asyncio.to_thread(json_archive.find_payment, self.data_dir, payment_id)
        return records.payment_from_json(raw) if raw is not None else None

    async def iter_payments(self, created_since: float = 0.0) -> AsyncIterator[Payment]:
        history = functools.partial(json_archive.payment_history, self.data_dir, created_since)
        async for raw in stream(history):
            yield records.payment_from_json(raw)

    # Statistics, broadcasts, state -------------------------------------------------------
    async def load_stats(self, name: str) -> Document | None:
        return await self._documents.load_stats(name)

    def load_stats_now(self, name: str) -> Document | None:
        return self._documents.load_stats_now(name)

    async def save_stats(self, name: str, document: Document) -> None:
        await self._documents.save_stats(name, document)

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
