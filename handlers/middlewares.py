"""Per-update context: the current user and their texts; in-flight tracking."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from services.users import UsersService
from texts import get_texts, language_for


class UserContextMiddleware(BaseMiddleware):
    """Registers the sender and injects `user` (UserRecord) and `texts` (Texts)."""

    def __init__(self, users: UsersService) -> None:
        self._users = users

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: User | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return await handler(event, data)
        language = language_for(sender.language_code)
        data["texts"] = get_texts(language)
        if isinstance(event, Update) and event.pre_checkout_query is not None:
            # Telegram waits at most 10 s for this answer: no storage write before it.
            return await handler(event, data)
        data["user"] = await self._users.touch(
            sender.id, first_name=sender.first_name, username=sender.username, language=language
        )
        return await handler(event, data)


class InFlightMiddleware(BaseMiddleware):
    """Remembers the tasks handling updates, so shutdown can let them finish."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is None:
            return await handler(event, data)
        self.tasks.add(task)
        try:
            return await handler(event, data)
        finally:
            self.tasks.discard(task)

    async def wait(self, seconds: float) -> int:
        """Wait up to `seconds`; return how many handlers were still running."""
        pending = {task for task in self.tasks if task is not asyncio.current_task()}
        if not pending:
            return 0
        _, still_running = await asyncio.wait(pending, timeout=seconds)
        return len(still_running)
