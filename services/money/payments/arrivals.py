"""Money arriving: the one path for what a payment system reports (a YooMoney operation,
a Stars payment or subscription charge). It credits the invoice it pays for, adds partial
transfers up, and records anything else as unmatched money, never dropped."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from services.models import Payment
from services.money.payments.commits import PaymentCommits
from services.money.payments.credits import Credits
from services.money.payments.invoices import Invoices
from services.money.payments.records import ArrivalOutcome, MoneyArrival, unmatched_money
from services.money.payments.stars_subscriptions import StarsSubscriptions
from services.money.payments.unmatched import UnmatchedLedger
from services.money.staging import Staged
from services.money.subscriptions import UnknownPlanError

logger = logging.getLogger(__name__)

FailureListener = Callable[[MoneyArrival, Payment | None, str], Awaitable[object]]


class Arrivals:
    def __init__(
        self,
        commits: PaymentCommits,
        invoices: Invoices,
        unmatched: UnmatchedLedger,
        credits: Credits,
        stars_subscriptions: StarsSubscriptions,
    ) -> None:
        self._commits = commits
        self._invoices = invoices
        self._unmatched = unmatched
        self._credits = credits
        self._stars_subscriptions = stars_subscriptions
        self.failed = asyncio.Event()  # set when a credit fails (retried soon)
        # Called when money arrived but could not be credited nor recorded (a full disk).
        self.failure_listeners: list[FailureListener] = []

    async def accept(self, arrival: MoneyArrival, *, minimum_share: float = 1.0) -> ArrivalOutcome:
        """The one path for money a payment system reports.

        Credits the invoice it pays for; adds partial transfers up; anything else
        (a paid, rejected or refunded invoice, an unknown label, a plan that is gone,
        any failure) is recorded as unmatched money and reported, never dropped.
        """
        unmatched = self._unmatched
        if unmatched.already_handled(arrival.money_id):
            return ArrivalOutcome(seen_before=True)
        if arrival.recurring or self._stars_subscriptions.is_reference(arrival.reference):
            return await self._stars_subscriptions.accept_charge(arrival)
        if arrival.reference:
            await self._invoices.bring(arrival.reference)
            if unmatched.already_handled(arrival.money_id):  # decided by someone meanwhile
                return ArrivalOutcome(seen_before=True)
        payment = self._invoices.get(arrival.reference) if arrival.reference else None
        if payment is None or payment.method != arrival.method:
            return await unmatched.record_arrival(arrival, payment, "unknown")
        if arrival.external_id in payment.operations or arrival.external_id == payment.charge_id:
            unmatched.seen[arrival.money_id] = True
            return ArrivalOutcome(seen_before=True)
        if payment.status in ("paid", "rejected", "refunded"):
            return await unmatched.record_arrival(arrival, payment, payment.status)
        try:
            return await self._count_toward(payment, arrival, minimum_share)
        except UnknownPlanError:
            return await unmatched.record_arrival(arrival, payment, "plan_missing")

    async def accept_or_record(
        self, arrival: MoneyArrival, *, minimum_share: float = 1.0
    ) -> ArrivalOutcome:
        """`accept`, never raising for one arrival's sake: when crediting fails (a full
        disk, an I/O error, a store's conflict), the arrival is recorded as unmatched
        money with reason "error" (retried by the next check, the Stars ledger or a
        restart, and creditable by hand), and if even that cannot be written the admins
        get an alert naming the money, the user and the invoice."""
        try:
            return await self.accept(arrival, minimum_share=minimum_share)
        except Exception as error:
            logger.exception(
                "Money %s:%s could not be credited", arrival.method, arrival.external_id
            )
            detail = f"{type(error).__name__}: {error}"[:300]
            self.failed.set()
            payment = self._invoices.get(arrival.reference) if arrival.reference else None
            try:
                await self._unmatched.record(unmatched_money(arrival, payment, "error", detail))
            except Exception:
                logger.exception(
                    "Money %s:%s could not be recorded", arrival.method, arrival.external_id
                )
                for listener in self.failure_listeners:
                    try:
                        await listener(arrival, payment, detail)
                    except Exception:
                        logger.exception("A failure listener failed")
            return ArrivalOutcome(error=detail)

    async def _count_toward(
        self, payment: Payment, arrival: MoneyArrival, minimum_share: float
    ) -> ArrivalOutcome:
        seen = self._unmatched.seen
        seen[arrival.money_id] = True  # claimed before the first await...
        try:
            return await self._count(payment, arrival, minimum_share)
        except BaseException:
            seen.pop(arrival.money_id, None)  # ...and given back if nothing was written
            raise

    async def _count(
        self, payment: Payment, arrival: MoneyArrival, minimum_share: float
    ) -> ArrivalOutcome:
        received = (payment.received_amount or 0.0) + arrival.amount
        operations = (*payment.operations, arrival.external_id)
        if received + 1e-9 < payment.amount * minimum_share:
            now = time.time()
            updated = dataclasses.replace(
                payment, received_amount=received, operations=operations, updated_at=now
            )
            staged = Staged()
            self._invoices.table.stage(staged, updated)
            self._unmatched.stage_retried(staged, arrival.money_id, now)
            await self._commits.commit(staged)
            return ArrivalOutcome(partial=updated)
        is_stars = arrival.method == "stars"
        credit = await self._credits.credit(
            payment.id,
            received_amount=None if is_stars else received,
            operations=() if is_stars else operations,
            operation_id=None if is_stars else arrival.external_id,
            charge_id=arrival.external_id if is_stars else None,
            retried=arrival.money_id,
        )
        return ArrivalOutcome(credit=credit)
