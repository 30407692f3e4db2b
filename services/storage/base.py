"""The one storage interface the services use; JSON files today, a database later."""

from __future__ import annotations

from abc import ABC, abstractmethod

from services.models import ChatTurn, UserRecord


class Storage(ABC):
    """Persistence for users, conversations and (in later modules) money records.

    Every `save_*` returns only when the change is durable, so whatever the bot
    confirms to a user afterwards survives a crash.
    """

    @abstractmethod
    async def open(self) -> None:
        """Prepare the backing store (create folders, load indexes)."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release resources."""

    # Users -----------------------------------------------------------------
    @abstractmethod
    async def get_user(self, user_id: int) -> UserRecord | None: ...

    @abstractmethod
    async def save_user(self, user: UserRecord) -> None: ...

    @abstractmethod
    async def user_ids(self) -> list[int]: ...

    # Conversations ------------------------------------------------------------
    @abstractmethod
    async def load_history(self, user_id: int) -> list[ChatTurn]: ...

    @abstractmethod
    async def save_history(self, user_id: int, turns: list[ChatTurn]) -> None: ...
