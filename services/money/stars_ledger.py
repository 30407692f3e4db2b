"""Telegram's own ledger of Stars payments, read back to find money we did not credit.

A `successful_payment` update comes once: if writing its credit fails (a full disk) and
the process restarts before a retry, nothing would bring it back. Telegram keeps every
payment in the bot's ledger (`getStarTransactions`, oldest first, the id of an incoming
payment being its `telegram_payment_charge_id`), so the bot reads the ledger from where
it stopped (a cursor kept by the storage) at start-up and every few minutes, and passes each
payment it has not seen through the one money path (`PaymentService.accept`), which
credits it once whatever path saw it first. The cursor moves only past payments that
are credited or recorded, so one whose write fails is read again next time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.money.payments import STARS_SUBSCRIPTION_PERIOD, MoneyArrival, PaymentService
from services.storage.base import DamagedRecordError, Storage

logger = logging.getLogger(__name__)

CURSOR = "stars_ledger"  # the state marker (DATA_DIR/stars_ledger.json)
PAGE = 100  # getStarTransactions' largest page
WINDOW = 7 * 86_400.0  # older payments were seen by every path that could see them


@dataclass(slots=True, frozen=True)
class LedgerPayment:
    """An incoming Stars payment as the ledger lists it; refunds and other entries are
    `None` in a page (they move the cursor, nothing else)."""

    charge_id: str
    user_id: int
    amount: int
    payload: str
    date: float
    subscription_period: int | None = None


Page = list[LedgerPayment | None]
FetchPage = Callable[[int, int], Awaitable[Page]]  # (offset, limit) -> entries


class StarsLedger:
    def __init__(self, payments: PaymentService, storage: Storage) -> None:
        self._payments = payments
        self._storage = storage
        self._lock = asyncio.Lock()

    async def reconcile(self, fetch: FetchPage, now: float | None = None) -> int:
        """Read the ledger from the cursor to its end; returns how many payments were
        credited now (they had been missed)."""
        async with self._lock:  # one reader at a time: start-up, the loop, a retry
            moment = time.time() if now is None else now
            offset = await self._read_cursor()
            start, credited = offset, 0
            try:
                while True:
                    page = await fetch(offset, PAGE)
                    for entry in page:
                        if entry is not None and entry.date >= moment - WINDOW:
                            outcome = await self._payments.accept_or_record(_arrival(entry))
                            if outcome.error is not None:
                                return credited  # read again next time, from here
                            credited += outcome.credit is not None
                        offset += 1
                    if len(page) < PAGE:
                        return credited
            finally:
                if offset != start:
                    await self._save_cursor(offset)

    async def _read_cursor(self) -> int:
        try:
            raw = await self._storage.load_state(CURSOR)
        except DamagedRecordError as error:
            logger.warning("%s; reading the Stars ledger from its start", error)
            return 0
        offset = raw.get("offset", 0) if raw is not None else 0
        return offset if isinstance(offset, int) and offset >= 0 else 0

    async def _save_cursor(self, offset: int) -> None:
        try:
            await self._storage.save_state(CURSOR, {"offset": offset})
        except OSError as error:  # read again from the old cursor: accept is idempotent
            logger.warning("Could not save the Stars ledger cursor: %s", error)


def _arrival(entry: LedgerPayment) -> MoneyArrival:
    recurring = entry.subscription_period is not None
    period = entry.subscription_period or STARS_SUBSCRIPTION_PERIOD
    return MoneyArrival(
        method="stars",
        external_id=entry.charge_id,
        amount=float(entry.amount),
        currency="XTR",
        reference=entry.payload,
        user_id=entry.user_id,
        recurring=recurring,
        expires_at=entry.date + period if recurring else None,
    )
