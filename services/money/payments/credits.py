"""The one credit path: a payment marked paid with its plan period, what the credit rules
add (a referral bonus) and the user's notice, in one commit, exactly once whatever path
sees the money; then the credit listeners are told."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from services.models import Payment
from services.money.outbox import OutboxService
from services.money.payments.commits import PaymentCommits
from services.money.payments.errors import PaymentError, PaymentRefusal
from services.money.payments.invoices import Invoices, moved
from services.money.payments.records import CreditResult, period_source
from services.money.payments.unmatched import UnmatchedLedger
from services.money.staging import Staged
from services.money.subscriptions import SubscriptionService
from services.storage.base import TRANSITIONS

logger = logging.getLogger(__name__)

CreditRule = Callable[[Staged, Payment, float], None]


class Credits:
    def __init__(
        self,
        commits: PaymentCommits,
        invoices: Invoices,
        unmatched: UnmatchedLedger,
        subscriptions: SubscriptionService,
        outbox: OutboxService,
    ) -> None:
        self._commits = commits
        self._invoices = invoices
        self._unmatched = unmatched
        self._subscriptions = subscriptions
        self._outbox = outbox
        # Called once per payment when it becomes paid, whichever path credited it.
        self.listeners: list[Callable[[CreditResult], Awaitable[None]]] = []
        # Run inside every credit before its commit, with no await (a referral bonus): may
        # add records to the same transaction, so they land with the payment or not at all.
        self.rules: list[CreditRule] = []

    async def credit(
        self,
        payment_id: str,
        *,
        received_amount: float | None = None,
        operations: tuple[str, ...] = (),
        operation_id: str | None = None,
        charge_id: str | None = None,
        decided_by: int | None = None,
        retried: str | None = None,
    ) -> CreditResult:
        """Mark a payment paid and add its plan period, exactly once, in one commit
        (with the user's notice, through the outbox). `retried` names money whose
        earlier credit failed ("error" record): settled in the same commit.

        The checks and the in-memory change happen before the first await, so two
        callers at once (poller, check button, notification, admin) credit once.
        """
        await self._invoices.bring(payment_id)
        payment = self._invoices.require(payment_id)  # from here on, no await until commit
        plan = self._invoices.plan_of(payment)
        if payment.status == "paid":
            await self._commits.settled(payment.id)  # paid by a caller whose write is in flight
            return CreditResult(payment, plan, self._plan_end(payment), newly_paid=False)
        if "paid" not in TRANSITIONS[payment.status]:
            raise PaymentError(PaymentRefusal.NOT_CREDITABLE, payment.status)
        now = time.time()
        paid = moved(
            payment,
            "paid",
            now=now,
            paid_at=now,
            received_amount=received_amount,
            operations=operations or payment.operations,
            operation_id=operation_id or payment.operation_id,
            charge_id=charge_id or payment.charge_id,
            decided_by=decided_by,
        )
        staged = Staged()
        self._invoices.table.stage(staged, paid)
        subscription = self._subscriptions.stage_period(
            staged, payment.user_id, plan.id, plan.days, period_source(payment), now
        )
        self.apply_rules(staged, paid, now)
        if retried is not None:
            self._unmatched.stage_retried(staged, retried, now)
        self._outbox.tell(
            staged, payment.user_id, "pay_success", {"plan": plan.name}, {"end": subscription.end}
        )
        await self._commits.commit(staged)
        logger.info("Payment %s credited: user %s, plan %s", payment.id, payment.user_id, plan.id)
        result = CreditResult(paid, plan, subscription.end, newly_paid=True)
        await self.tell(result)
        return result

    async def confirm(self, payment_id: str, *, decided_by: int) -> CreditResult:
        """A manager confirms by hand: an SBP payment, or YooMoney money that arrived short.
        YooMoney and Stars invoices otherwise credit themselves when the money arrives, so a
        hand confirmation there would grant a plan for an unpaid invoice."""
        await self._invoices.bring(payment_id)
        payment = self._invoices.require(payment_id)
        if payment.status not in ("pending", "expired"):
            raise PaymentError(PaymentRefusal.DECIDED, payment.status)
        failed = self._unmatched.failed_credit_for(payment)
        if failed is not None:  # the money arrived; writing its credit failed
            operation = failed.id.partition(":")[2]
            stars = payment.method == "stars"
            received = (payment.received_amount or 0.0) + failed.amount
            return await self.credit(
                payment.id,
                decided_by=decided_by,
                received_amount=None if stars else received,
                operations=() if stars else (*payment.operations, operation),
                operation_id=None if stars else operation,
                charge_id=operation if stars else None,
                retried=failed.id,
            )
        arrived_short = payment.method == "yoomoney" and bool(payment.operations)
        if payment.method != "sbp" and not arrived_short:
            raise PaymentError(PaymentRefusal.NOT_BY_HAND)
        return await self.credit(
            payment.id,
            decided_by=decided_by,
            received_amount=payment.received_amount,
            operations=payment.operations,
        )

    def apply_rules(self, staged: Staged, paid: Payment, now: float) -> None:
        """Let the rules add to a credit's transaction (before its commit, no await)."""
        for rule in self.rules:
            try:
                rule(staged, paid, now)
            except Exception:  # a rule stages nothing before it can fail
                logger.exception("A credit rule failed for payment %s", paid.id)

    async def tell(self, result: CreditResult) -> None:
        for listener in self.listeners:
            try:
                await listener(result)
            except Exception:  # telling people must not undo or repeat a credit
                logger.exception("A credit listener failed for payment %s", result.payment.id)

    def _plan_end(self, payment: Payment) -> float:
        for item in self._subscriptions.active_plans(payment.user_id):
            if item.plan.id == payment.plan_id:
                return item.end
        return payment.paid_at or 0.0
