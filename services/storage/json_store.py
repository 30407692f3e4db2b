"""Storage on JSON files under DATA_DIR: one small file per user, so writes stay O(1)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.models import (
    ChatTurn,
    Payment,
    Period,
    PromoActivation,
    PromoCode,
    Subscription,
    UserRecord,
)
from services.storage.atomic import FileWriter, read_json
from services.storage.base import Storage

logger = logging.getLogger(__name__)

HISTORY_CACHE_SIZE = 10_000


class JsonStorage(Storage):
    """Users in `users/<id>.json`, conversations in `history/<id>.json`.

    User records are cached in memory once read; conversations in an LRU cache.
    Conversation files skip fsync (an atomic rename already survives kill -9);
    everything else is fsynced.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._users_dir = data_dir / "users"
        self._history_dir = data_dir / "history"
        self._writer = FileWriter()
        self._writer.on_error = self._report_write_error
        self.write_error_listeners: list[Callable[[str], Awaitable[object]]] = []
        self._users: dict[int, UserRecord] = {}
        self._history: OrderedDict[int, list[ChatTurn]] = OrderedDict()
        self._subscriptions: dict[str, Subscription] = {}
        self._promo_codes: dict[str, PromoCode] = {}
        self._subscriptions_path = data_dir / "subscriptions.json"
        self._promo_path = data_dir / "promo_codes.json"
        self._payments: dict[str, Payment] = {}
        self._payments_path = data_dir / "payments.json"

    async def open(self) -> None:
        for folder in (self.data_dir, self._users_dir, self._history_dir):
            folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_remove_temp_files, self.data_dir)
        raw_subscriptions = await asyncio.to_thread(read_json, self._subscriptions_path, [])
        for item in raw_subscriptions:
            subscription = _subscription_from_json(item)
            self._subscriptions[_subscription_key(subscription)] = subscription
        raw_promo = await asyncio.to_thread(read_json, self._promo_path, [])
        self._promo_codes = {item["code"]: _promo_from_json(item) for item in raw_promo}
        raw_payments = await asyncio.to_thread(read_json, self._payments_path, [])
        self._payments = {item["id"]: Payment(**item) for item in raw_payments}

    async def close(self) -> None:
        await self._writer.drain()

    async def _report_write_error(self, path: Path, error: OSError) -> None:
        logger.error("Could not write %s: %s", path, error)
        for listener in self.write_error_listeners:
            await listener(f"Storage write failed: {path.name}: {error.strerror or error}")

    # Users -----------------------------------------------------------------
    async def get_user(self, user_id: int) -> UserRecord | None:
        user = self._users.get(user_id)
        if user is None:
            raw = await asyncio.to_thread(read_json, self._user_path(user_id))
            if raw is None:
                return None
            user = self._users.setdefault(user_id, _user_from_json(raw))
        return dataclasses.replace(user)

    async def save_user(self, user: UserRecord) -> None:
        stored = dataclasses.replace(user)
        self._users[user.id] = stored
        await self._writer.save(self._user_path(user.id), lambda: dataclasses.asdict(stored))

    async def user_ids(self) -> list[int]:
        names = await asyncio.to_thread(os.listdir, self._users_dir)
        return [int(name[:-5]) for name in names if name.endswith(".json")]

    async def all_users(self) -> list[UserRecord]:
        missing = [uid for uid in await self.user_ids() if uid not in self._users]
        if missing:
            loaded = await asyncio.to_thread(self._read_users, missing)
            for user in loaded:
                self._users.setdefault(user.id, user)
        return [dataclasses.replace(user) for user in self._users.values()]

    def _read_users(self, user_ids: list[int]) -> list[UserRecord]:
        users = []
        for user_id in user_ids:
            raw = read_json(self._user_path(user_id))
            if raw is not None:
                users.append(_user_from_json(raw))
        return users

    def _user_path(self, user_id: int) -> Path:
        return self._users_dir / f"{user_id}.json"

    # Conversations ------------------------------------------------------------
    async def load_history(self, user_id: int) -> list[ChatTurn]:
        turns = self._history.get(user_id)
        if turns is None:
            raw = await asyncio.to_thread(read_json, self._history_path(user_id), [])
            turns = [ChatTurn(role=item["role"], content=item["content"]) for item in raw]
            self._remember_history(user_id, turns)
        else:
            self._history.move_to_end(user_id)
        return list(turns)

    async def save_history(self, user_id: int, turns: list[ChatTurn]) -> None:
        stored = list(turns)
        self._remember_history(user_id, stored)
        await self._writer.save(
            self._history_path(user_id),
            lambda: [{"role": turn.role, "content": turn.content} for turn in stored],
            durable=False,
        )

    def _remember_history(self, user_id: int, turns: list[ChatTurn]) -> None:
        self._history[user_id] = turns
        self._history.move_to_end(user_id)
        while len(self._history) > HISTORY_CACHE_SIZE:
            self._history.popitem(last=False)

    def _history_path(self, user_id: int) -> Path:
        return self._history_dir / f"{user_id}.json"

    # Subscriptions ------------------------------------------------------------
    async def all_subscriptions(self) -> list[Subscription]:
        return [_copy_subscription(item) for item in self._subscriptions.values()]

    async def save_subscription(self, subscription: Subscription) -> None:
        self._subscriptions[_subscription_key(subscription)] = _copy_subscription(subscription)
        await self._writer.save(
            self._subscriptions_path,
            lambda: [dataclasses.asdict(item) for item in self._subscriptions.values()],
        )

    # Promo codes ----------------------------------------------------------------
    async def all_promo_codes(self) -> list[PromoCode]:
        return [_copy_promo(item) for item in self._promo_codes.values()]

    async def save_promo_code(self, promo: PromoCode) -> None:
        self._promo_codes[promo.code] = _copy_promo(promo)
        await self._save_promo_codes()

    async def delete_promo_code(self, code: str) -> None:
        self._promo_codes.pop(code, None)
        await self._save_promo_codes()

    async def _save_promo_codes(self) -> None:
        await self._writer.save(
            self._promo_path,
            lambda: [dataclasses.asdict(item) for item in self._promo_codes.values()],
        )

    # Payments ------------------------------------------------------------------
    async def all_payments(self) -> list[Payment]:
        return [dataclasses.replace(item) for item in self._payments.values()]

    async def save_payment(self, payment: Payment) -> None:
        self._payments[payment.id] = dataclasses.replace(payment)
        await self._writer.save(
            self._payments_path,
            lambda: [dataclasses.asdict(item) for item in self._payments.values()],
        )


def _subscription_key(subscription: Subscription) -> str:
    return f"{subscription.user_id}:{subscription.plan_id}"


def _copy_subscription(item: Subscription) -> Subscription:
    return _subscription_from_json(dataclasses.asdict(item))


def _subscription_from_json(raw: dict[str, Any]) -> Subscription:
    return Subscription(
        user_id=raw["user_id"],
        plan_id=raw["plan_id"],
        periods=[Period(**period) for period in raw["periods"]],
        reminders_sent=list(raw.get("reminders_sent", [])),
    )


def _copy_promo(item: PromoCode) -> PromoCode:
    return _promo_from_json(dataclasses.asdict(item))


def _promo_from_json(raw: dict[str, Any]) -> PromoCode:
    fields = dict(raw)
    fields["activations"] = [PromoActivation(**item) for item in raw.get("activations", [])]
    return PromoCode(**fields)


def _user_from_json(raw: dict[str, Any]) -> UserRecord:
    known = {field.name for field in dataclasses.fields(UserRecord)}
    return UserRecord(**{key: value for key, value in raw.items() if key in known})


def _remove_temp_files(root: Path) -> None:
    """Drop temp files a killed process left behind; the real files are intact."""
    for temp in root.rglob(".*.tmp"):
        temp.unlink(missing_ok=True)
        logger.info("Removed unfinished write %s", temp.name)
