"""Money that arrived but was not credited: recorded once per arrival, reported, listed
until an admin settles it; and the money ids already seen, so an arrival counts once."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from cachetools import TTLCache

from services.models import Payment, UnmatchedMoney, UnmatchedReason
from services.money.payments.commits import PaymentCommits
from services.money.payments.errors import PaymentError, PaymentRefusal
from services.money.payments.records import (
    SEEN_MONEY_CACHE,
    ArrivalOutcome,
    MoneyArrival,
    unmatched_money,
)
from services.money.staging import Staged, Table
from services.storage.base import Retention, Transaction

logger = logging.getLogger(__name__)


def _unmatched(transaction: Transaction) -> list[UnmatchedMoney]:
    return transaction.unmatched


class UnmatchedLedger:
    def __init__(self, commits: PaymentCommits, retention: Retention) -> None:
        self._commits = commits
        self._retention = retention
        self.table: Table[str, UnmatchedMoney] = Table(lambda item: item.id, _unmatched)
        # Money ids credited or counted (an arrival's second report is "seen before").
        self.seen: TTLCache[str, bool] = TTLCache(SEEN_MONEY_CACHE, ttl=7 * 86_400)
        # Called once per recorded unmatched arrival (admins are told).
        self.listeners: list[Callable[[UnmatchedMoney], Awaitable[object]]] = []

    def load(self, items: list[UnmatchedMoney]) -> None:
        for item in items:
            self.table.install(item)

    def prune(self, moment: float) -> None:
        for item in list(self.table.values()):
            if not self._retention.unmatched_is_live(item, moment):
                self.table.remove(item)

    # Queries ----------------------------------------------------------------------
    def open_items(self) -> list[UnmatchedMoney]:
        """Recorded arrivals an admin has not settled yet, oldest first."""
        items = (item for item in self.table.values() if item.resolved_at is None)
        return sorted(items, key=lambda item: item.at)

    def already_handled(self, money_id: str) -> bool:
        """Seen, or recorded for the admins; a record of a failed credit ("error") is
        not: the next arrival of the same money tries again."""
        recorded = self.table.get(money_id)
        if recorded is not None:
            return recorded.reason != "error" or recorded.resolved_at is not None
        return money_id in self.seen

    def failed_credit(self, money_id: str) -> UnmatchedMoney | None:
        """The open record of a credit of this money that failed before, if any."""
        recorded = self.table.get(money_id)
        if recorded is None or recorded.reason != "error" or recorded.resolved_at is not None:
            return None
        return recorded

    def failed_credit_for(self, payment: Payment) -> UnmatchedMoney | None:
        """An open "error" record of money that arrived for this payment."""
        return next(
            (
                item
                for item in self.table.values()
                if item.reason == "error"
                and item.resolved_at is None
                and item.method == payment.method
                and payment.id in (item.payment_id, item.reference)
            ),
            None,
        )

    # Recording ----------------------------------------------------------------------
    async def record_arrival(
        self,
        arrival: MoneyArrival,
        payment: Payment | None,
        reason: UnmatchedReason,
        detail: str = "",
    ) -> ArrivalOutcome:
        item = unmatched_money(arrival, payment, reason, detail)
        return ArrivalOutcome(unmatched=await self.record(item))

    async def record(self, item: UnmatchedMoney) -> UnmatchedMoney | None:
        """Record money that could not be credited, once per arrival; admins are told."""
        if item.id in self.table:
            return None
        staged = Staged()
        self.table.stage(staged, item)
        await self._commits.commit(staged)
        logger.warning(
            "Unmatched money %s: %s %s (%s)", item.id, item.amount, item.currency, item.reason
        )
        for listener in self.listeners:
            try:
                await listener(item)
            except Exception:
                logger.exception("An unmatched-money listener failed for %s", item.id)
        return item

    # Settling -----------------------------------------------------------------------
    def refundable(self, money_id: str) -> UnmatchedMoney:
        """An open record of Stars from a known user (they can be returned)."""
        item = self.table.get(money_id)
        if item is None or item.resolved_at is not None:
            raise PaymentError(PaymentRefusal.NOT_FOUND)
        if item.method != "stars" or item.user_id is None:
            raise PaymentError(PaymentRefusal.NOT_STARS)
        return item

    async def resolve(self, money_id: str, *, decided_by: int) -> UnmatchedMoney:
        """An admin settled it (refunded, credited by hand, or it was not for us)."""
        item = self.table.get(money_id)
        if item is None:
            raise PaymentError(PaymentRefusal.NOT_FOUND)
        if item.resolved_at is not None:
            raise PaymentError(PaymentRefusal.ALREADY_RESOLVED)
        staged = Staged()
        resolved = self.stage_settled(staged, item, decided_by, time.time())
        await self._commits.commit(staged)
        return resolved

    def stage_settled(
        self, staged: Staged, item: UnmatchedMoney, by: int | None, now: float, note: str = ""
    ) -> UnmatchedMoney:
        """An unmatched record settled (by an admin, or by the bot: `by` 0), in `staged`."""
        detail = f"{item.detail} {note}".strip() if note else item.detail
        settled = dataclasses.replace(item, resolved_at=now, resolved_by=by, detail=detail)
        return self.table.stage(staged, settled)

    def stage_retried(self, staged: Staged, money_id: str, now: float) -> None:
        """The credit of money whose earlier credit failed settles its "error" record, in
        the same transaction."""
        recorded = self.failed_credit(money_id)
        if recorded is not None:
            self.stage_settled(staged, recorded, 0, now, "(credited later)")
