"""The one storage interface the services use; JSON files today, a database later."""

from __future__ import annotations

from abc import ABC, abstractmethod

from services.models import ChatTurn, Payment, PromoCode, Subscription, UserRecord


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

    @abstractmethod
    async def all_users(self) -> list[UserRecord]:
        """Every user (admin use: broadcasts, statistics, search)."""

    # Conversations ------------------------------------------------------------
    @abstractmethod
    async def load_history(self, user_id: int) -> list[ChatTurn]: ...

    @abstractmethod
    async def save_history(self, user_id: int, turns: list[ChatTurn]) -> None: ...

    # Subscriptions ------------------------------------------------------------
    @abstractmethod
    async def all_subscriptions(self) -> list[Subscription]: ...

    @abstractmethod
    async def save_subscription(self, subscription: Subscription) -> None: ...

    # Promo codes ----------------------------------------------------------------
    @abstractmethod
    async def all_promo_codes(self) -> list[PromoCode]: ...

    @abstractmethod
    async def save_promo_code(self, promo: PromoCode) -> None: ...

    @abstractmethod
    async def delete_promo_code(self, code: str) -> None: ...

    # Payments ------------------------------------------------------------------
    @abstractmethod
    async def all_payments(self) -> list[Payment]: ...

    @abstractmethod
    async def save_payment(self, payment: Payment) -> None: ...
