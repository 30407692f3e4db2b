"""Users as files: `users/<id>.json`, one small file each, replaced atomically.

A save is O(1) whatever the number of users. Finding a user by @username reads every
file once, the first time it is asked, into an index (lower-case username -> id) that
saves keep current from then on; a found id is checked against the user's own file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from cachetools import LRUCache

from services.models import UserRecord
from services.storage import records
from services.storage.json_files import DataFiles, stream

USER_CACHE_SIZE = 20_000  # users


class UserFiles:
    def __init__(self, files: DataFiles) -> None:
        self._files = files
        self.folder = files.data_dir / "users"
        self._cache: LRUCache[int, UserRecord] = LRUCache(USER_CACHE_SIZE)
        self._by_name: dict[str, int] | None = None  # built at the first search
        self._index_lock = asyncio.Lock()
        self._saved_while_indexing: dict[int, str | None] | None = None  # id -> username

    async def get(self, user_id: int) -> UserRecord | None:
        user = self._cache.get(user_id)
        if user is None:
            raw = await self._files.read_user_file(self._path(user_id), None)
            if not isinstance(raw, dict):
                return None
            user = self._cache.setdefault(user_id, records.user_from_json(raw))
        return dataclasses.replace(user)

    async def save(self, user: UserRecord) -> None:
        stored = dataclasses.replace(user)  # never changed (copies go out): read in a thread
        self._cache[user.id] = stored
        self._index(stored)
        try:
            await self._files.writer.save(self._path(user.id), lambda: stored)
        except OSError:
            self._cache.pop(user.id, None)  # memory must not claim what the disk lacks
            raise

    async def count(self) -> int:
        names = await asyncio.to_thread(os.listdir, self.folder)
        return sum(1 for name in names if name.endswith(".json") and not name.startswith("."))

    async def iter(self) -> AsyncIterator[UserRecord]:
        moved: list[Path] = []

        def users() -> Iterator[UserRecord]:
            for entry in os.scandir(self.folder):
                if not entry.name.endswith(".json") or entry.name.startswith("."):
                    continue
                raw, quarantined = self._files.read_or_quarantine(Path(entry.path), None)
                if quarantined is not None:
                    moved.append(quarantined)
                elif isinstance(raw, dict):
                    yield records.user_from_json(raw)

        async for user in stream(users):
            cached = self._cache.get(user.id)
            yield dataclasses.replace(cached) if cached is not None else user
        for path in moved:
            await self._files.tell(
                f"Damaged file moved to {path.relative_to(self._files.data_dir)}"
            )

    async def unblocked_ids(self) -> list[int]:
        return sorted([user.id async for user in self.iter() if not user.blocked])

    async def find_by_username(self, username: str) -> UserRecord | None:
        name = username.lower()
        index = self._by_name if self._by_name is not None else await self._build_index()
        user_id = index.get(name)
        if user_id is None:
            return None
        user = await self.get(user_id)
        if user is not None and (user.username or "").lower() == name:
            return user
        if index.get(name) == user_id:  # renamed, or the file is gone: look again
            del index[name]
        async for user in self.iter():
            if (user.username or "").lower() == name:
                index[name] = user.id
                return user
        return None

    def _index(self, user: UserRecord) -> None:
        if self._saved_while_indexing is not None:
            self._saved_while_indexing[user.id] = user.username
        if self._by_name is not None and user.username:
            self._by_name[user.username.lower()] = user.id

    async def _build_index(self) -> dict[str, int]:
        async with self._index_lock:
            if self._by_name is not None:
                return self._by_name
            index: dict[str, int] = {}
            saved: dict[int, str | None] = {}
            self._saved_while_indexing = saved
            try:
                async for user in self.iter():
                    if user.username and user.id not in saved:  # a save since is newer
                        index.setdefault(user.username.lower(), user.id)
                for user_id, username in saved.items():
                    if username:
                        index[username.lower()] = user_id
            finally:
                self._saved_while_indexing = None
            self._by_name = index
            return index

    def _path(self, user_id: int) -> Path:
        return self.folder / f"{user_id}.json"
