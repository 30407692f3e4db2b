"""Shared filters."""

from __future__ import annotations

from typing import Any

from aiogram.filters import BaseFilter
from aiogram.types import TelegramObject, User

from config import Settings


class IsAdmin(BaseFilter):
    """Passes only updates from a user listed in ADMIN_IDS."""

    async def __call__(
        self, event: TelegramObject, event_from_user: User | None = None, **data: Any
    ) -> bool:
        settings: Settings = data["settings"]
        return event_from_user is not None and event_from_user.id in settings.admin_ids
