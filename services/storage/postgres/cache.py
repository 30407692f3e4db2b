"""What one process alone on the database keeps in memory: users, conversation lists and
memories, as the JSON store does. Only then: with several processes another one may
change a user or a conversation, so every read goes to the database.

Copies go in and out (callers change records in place); a write that fails drops the
entry, so memory never claims what the database lacks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from cachetools import LRUCache

from services.models import ChatTurn, Conversations, UserRecord
from services.storage.json_conversations import CONVERSATIONS_CACHE_SIZE
from services.storage.json_store import HISTORY_CACHE_CHARS
from services.storage.json_users import USER_CACHE_SIZE
from services.storage.postgres.people import People


class CachedPeople:
    """`People` with the JSON store's caches in front."""

    def __init__(self, people: People) -> None:
        self._people = people
        self._users: LRUCache[int, UserRecord] = LRUCache(USER_CACHE_SIZE)
        self._lists: LRUCache[int, Conversations] = LRUCache(CONVERSATIONS_CACHE_SIZE)
        self._memories: LRUCache[tuple[int, str], tuple[ChatTurn, ...]] = LRUCache(
            HISTORY_CACHE_CHARS, getsizeof=lambda turns: 1 + sum(len(t.content) for t in turns)
        )

    async def get_user(self, user_id: int) -> UserRecord | None:
        user = self._users.get(user_id)
        if user is None:
            user = await self._people.get_user(user_id)
            if user is None:
                return None
            user = self._users.setdefault(user_id, user)
        return dataclasses.replace(user)

    async def save_user(self, user: UserRecord) -> None:
        stored = dataclasses.replace(user)
        await _written(self._people.save_user(stored), lambda: self._users.pop(user.id, None))
        self._users[user.id] = stored

    async def load_conversations(self, owner: int) -> Conversations | None:
        cached = self._lists.get(owner)
        if cached is None:
            cached = await self._people.load_conversations(owner)
            if cached is not None:
                self._lists[owner] = cached
        return cached

    async def save_conversations(self, owner: int, conversations: Conversations) -> None:
        await _written(
            self._people.save_conversations(owner, conversations),
            lambda: self._lists.pop(owner, None),
        )
        self._lists[owner] = conversations

    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        key = (owner, conversation_id)
        turns = self._memories.get(key)
        if turns is None:
            turns = tuple(await self._people.load_history(owner, conversation_id))
            self._memories[key] = turns
        return list(turns)

    async def save_history(self, owner: int, conversation_id: str, turns: list[ChatTurn]) -> None:
        key = (owner, conversation_id)
        await _written(
            self._people.save_history(owner, conversation_id, turns),
            lambda: self._memories.pop(key, None),
        )
        self._memories[key] = tuple(turns)

    async def delete_history(self, owner: int, conversation_id: str) -> None:
        self._memories.pop((owner, conversation_id), None)
        await self._people.delete_history(owner, conversation_id)

    async def forget(self, owner: int) -> None:
        self._lists.pop(owner, None)
        for key in [key for key in self._memories if key[0] == owner]:
            self._memories.pop(key, None)
        await self._people.forget(owner)


async def _written(write: Awaitable[None], drop: Callable[[], object]) -> None:
    try:
        await write
    except BaseException:
        drop()
        raise
