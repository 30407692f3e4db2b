"""The outbox: side effects at Telegram that follow a saved change.

Returning Stars, cancelling a subscription's renewal and telling a user about their
money are each an `OutboxItem`, committed in the same transaction as the change they
follow, so a crash, a 5xx or a 429 between the change and Telegram's answer never
loses them: the worker (`runtime.outbox`) does them, and retries what failed for a
temporary reason until Telegram does it or finally refuses (then the admins are told).

An item becomes visible here only once its transaction is durable; a worker claims it
in memory before its first await, so no item is run twice at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Iterable, Mapping

from services.models import OutboxItem, OutboxKind
from services.money.staging import Staged
from services.money.sync import MoneySync, synced
from services.storage.base import DAY, Retention, Storage, Transaction

RETRY_FIRST = 5.0  # seconds before the first retry; doubled each time...
RETRY_MAX = 600.0  # ...up to this
GIVE_UP_AFTER = 2 * DAY  # a temporary failure for this long becomes final


class OutboxService:
    def __init__(self, storage: Storage, sync: MoneySync | None = None) -> None:
        self.sync = sync if sync is not None else MoneySync(storage)
        self._storage = storage
        self._items: dict[str, OutboxItem] = {}
        self._busy: set[str] = set()
        self.changed = asyncio.Event()  # set when an item may have become due

    def load(self, items: Iterable[OutboxItem]) -> None:
        for item in items:
            self._items[item.id] = item
        self.changed.set()

    def absorb(self, transaction: Transaction) -> None:
        """Take in items another process committed (see MoneySync)."""
        for item in transaction.outbox:
            self._install(item)

    def prune(self, retention: Retention, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        for item in list(self._items.values()):
            if not retention.outbox_is_live(item, moment) and item.id not in self._busy:
                del self._items[item.id]

    # Making items ------------------------------------------------------------------------
    @staticmethod
    def new(
        kind: OutboxKind, user_id: int, now: float | None = None, **fields: object
    ) -> OutboxItem:
        moment = time.time() if now is None else now
        return OutboxItem(
            id=f"{kind.split('_')[0][:4]}{secrets.token_hex(6)}",
            kind=kind,
            user_id=user_id,
            created_at=moment,
            due_at=moment,
            **fields,  # type: ignore[arg-type]
        )

    def stage(self, staged: Staged, item: OutboxItem) -> None:
        """Add a new or changed item to a transaction; it counts once that is durable."""
        staged.transaction.outbox.append(item)
        staged.on_commit(lambda: self._install(item))

    def tell(
        self,
        staged: Staged,
        user_id: int,
        text: str,
        params: Mapping[str, str] | None = None,
        moments: Mapping[str, float] | None = None,
    ) -> OutboxItem:
        """Tell the user `text` (a texts key, rendered in their language when sent) once
        the transaction is durable."""
        item = self.new(
            "tell_user",
            user_id,
            text=text,
            params=tuple((params or {}).items()),
            moments=tuple((moments or {}).items()),
        )
        self.stage(staged, item)
        return item

    # Queries -------------------------------------------------------------------------------
    def get(self, item_id: str) -> OutboxItem | None:
        return self._items.get(item_id)

    def pending(self, kind: OutboxKind | None = None) -> list[OutboxItem]:
        """Items not done yet, oldest first."""
        items = (
            item
            for item in self._items.values()
            if item.done_at is None and (kind is None or item.kind == kind)
        )
        return sorted(items, key=lambda item: item.created_at)

    def pending_refund(self, payment_id: str) -> OutboxItem | None:
        return next(
            (item for item in self.pending("refund_stars") if item.payment_id == payment_id),
            None,
        )

    def due(self, now: float | None = None) -> list[OutboxItem]:
        moment = time.time() if now is None else now
        return [
            item
            for item in sorted(self.pending(), key=lambda item: item.due_at)
            if item.due_at <= moment and item.id not in self._busy
        ]

    def next_due_at(self) -> float | None:
        times = [item.due_at for item in self.pending() if item.id not in self._busy]
        return min(times, default=None)

    # Running ------------------------------------------------------------------------------
    def claim(self, item_id: str) -> OutboxItem | None:
        """The item, claimed for one runner; None if it is done or someone runs it."""
        item = self._items.get(item_id)
        if item is None or item.done_at is not None or item_id in self._busy:
            return None
        self._busy.add(item_id)
        return item

    def release(self, item_id: str) -> None:
        self._busy.discard(item_id)
        self.changed.set()

    def stage_done(self, staged: Staged, item: OutboxItem, now: float | None = None) -> None:
        """Mark the item done in the transaction of what it completes."""
        moment = time.time() if now is None else now
        self.stage(staged, dataclasses.replace(item, done_at=moment, attempts=item.attempts + 1))

    @synced
    async def done(self, item: OutboxItem, now: float | None = None) -> OutboxItem:
        staged = Staged()
        self.stage_done(staged, item, now)
        await staged.commit(self._storage)
        return self._items[item.id]

    @synced
    async def fail(self, item: OutboxItem, reason: str, now: float | None = None) -> OutboxItem:
        """Telegram finally refused: the item is given up, with the reason."""
        moment = time.time() if now is None else now
        failed = dataclasses.replace(
            item, done_at=moment, failed=reason[:300], attempts=item.attempts + 1
        )
        return await self._save(failed)

    @synced
    async def retry_later(
        self, item: OutboxItem, error: str, delay: float | None = None, now: float | None = None
    ) -> OutboxItem:
        """A temporary failure: try again after `delay` (Telegram's retry_after) or the
        back-off; after GIVE_UP_AFTER of failures it becomes final."""
        moment = time.time() if now is None else now
        if moment - item.created_at >= GIVE_UP_AFTER:
            return await self.fail(item, f"gave up after {item.attempts + 1} tries: {error}")
        wait = delay if delay is not None else min(RETRY_MAX, RETRY_FIRST * 2**item.attempts)
        later = dataclasses.replace(
            item, attempts=item.attempts + 1, due_at=moment + wait, last_error=error[:300]
        )
        return await self._save(later)

    async def _save(self, item: OutboxItem) -> OutboxItem:
        staged = Staged()
        self.stage(staged, item)
        await staged.commit(self._storage)
        return item

    def _install(self, item: OutboxItem) -> None:
        self._items[item.id] = item
        self.changed.set()
