"""Registering users and remembering their settings."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.models import UserRecord
from services.operator.stats import StatsService
from services.storage.base import Storage

NAME_MATCHES = 10  # users a search by name lists


class UsersService:
    def __init__(
        self, storage: Storage, default_model_key: str | Callable[[], str], stats: StatsService
    ) -> None:
        self._storage = storage
        # A callable: the default changes when a provider stops serving a model.
        self._default_model_key = (
            default_model_key if callable(default_model_key) else lambda: default_model_key
        )
        self._stats = stats

    async def touch(
        self, user_id: int, *, first_name: str, username: str | None, language: str
    ) -> UserRecord:
        """Return the user, registering them or saving changed profile fields."""
        user, _ = await self.arrive(
            user_id, first_name=first_name, username=username, language=language
        )
        return user

    async def arrive(
        self, user_id: int, *, first_name: str, username: str | None, language: str
    ) -> tuple[UserRecord, bool]:
        """`touch`, and whether the user was registered just now (their first visit)."""
        user = await self._storage.get_user(user_id)
        if user is None:
            user = UserRecord(
                id=user_id,
                first_name=first_name,
                username=username,
                language=language,
                model_key=self._default_model_key(),
                created_at=time.time(),
            )
            await self._storage.save_user(user)
            self._stats.user_seen(user_id, is_new=True)
            return user, True
        self._stats.user_seen(user_id, is_new=False)
        if (user.first_name, user.username, user.language, user.blocked) != (
            first_name,
            username,
            language,
            False,
        ):
            user.first_name, user.username, user.language = first_name, username, language
            user.blocked = False  # a message from them means they unblocked the bot
            await self._storage.save_user(user)
        return user, False

    async def get(self, user_id: int) -> UserRecord | None:
        return await self._storage.get_user(user_id)

    async def language(self, user_id: int) -> str:
        """The language a user (or an admin) reads, as last seen; Russian by default."""
        user = await self._storage.get_user(user_id)
        return user.language if user is not None else "ru"

    async def set_model(self, user: UserRecord, model_key: str) -> None:
        user.model_key = model_key
        await self._storage.save_user(user)

    async def mark_blocked(self, user_id: int) -> None:
        """The user blocked the bot: skip them in broadcasts until they write again."""
        user = await self._storage.get_user(user_id)
        if user is not None and not user.blocked:
            user.blocked = True
            await self._storage.save_user(user)

    async def find(self, query: str) -> UserRecord | None:
        """A user by id or @username (case-insensitive)."""
        query = query.strip()
        if query.lstrip("-").isascii() and query.lstrip("-").isdigit():  # not "²"
            return await self._storage.get_user(int(query))
        name = query.removeprefix("@").lower()
        if not name:
            return None
        return await self._storage.find_user_by_username(name)

    async def find_by_name(self, query: str, limit: int = NAME_MATCHES) -> list[UserRecord]:
        """Users whose first name (or @username) contains `query`, ignoring case: at most
        `limit`, the newest first. Reads every user (an admin's rare look-up)."""
        needle = query.strip().removeprefix("@").casefold()
        if not needle:
            return []
        found = [
            user
            async for user in self._storage.iter_users()
            if needle in user.first_name.casefold() or needle in (user.username or "").casefold()
        ]
        found.sort(key=lambda user: -user.created_at)
        return found[:limit]

    async def count(self) -> int:
        return await self._storage.count_users()

    async def broadcast_recipients(self) -> list[int]:
        """Users who have not blocked the bot."""
        return await self._storage.unblocked_user_ids()
