"""How the payment ledgers write: one commit path for all of them, and claims on records
that a slow action (a refund, a renewal change) holds while it runs."""

from __future__ import annotations

from services.money.payments.errors import PaymentError, PaymentRefusal
from services.money.staging import InFlight, Staged
from services.storage.base import ConflictError, MoneyRule, Storage


class PaymentCommits:
    """Commits the ledgers' staged changes. Payments and Stars subscriptions being written
    are in flight by id, so a reader of one waits for its write; a store's ConflictError
    (a money rule another writer got to first) is the refusal it is: a PaymentError."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._in_flight = InFlight()

    async def commit(self, staged: Staged) -> None:
        ids = [payment.id for payment in staged.transaction.payments]
        ids += [item.id for item in staged.transaction.stars_subscriptions]
        try:
            await self._in_flight.commit(staged, self.storage, ids)
        except ConflictError as conflict:  # nothing was written; the memory is put back
            if conflict.rule is MoneyRule.STALE:
                raise  # decided on an old record: MoneySync decides again
            raise PaymentError(PaymentRefusal.CONFLICT, rule=conflict.rule) from conflict

    async def settled(self, key: str) -> None:
        """Wait for a write in flight of this payment or subscription."""
        await self._in_flight.settled(key)


class Claims:
    """Records a slow action holds (a payment being refunded, a subscription whose
    renewal changes): claimed before the first await, so a second press is refused."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    def __contains__(self, key: object) -> bool:
        return key in self._held

    def claim(self, key: str) -> None:
        if key in self._held:
            raise PaymentError(PaymentRefusal.IN_PROGRESS)
        self._held.add(key)

    def release(self, key: str) -> None:
        self._held.discard(key)
