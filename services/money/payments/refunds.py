"""Refunds: a paid payment refunded with the unused period taken back (and what the
refund rules take back, a referral bonus), a Stars subscription ended; Stars returned
through the outbox (the request saved first, recorded when Telegram has done it)."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.models import OutboxItem, Payment
from services.money.outbox import OutboxService
from services.money.payments.commits import Claims, PaymentCommits
from services.money.payments.errors import PaymentError, PaymentRefusal
from services.money.payments.invoices import Invoices, moved
from services.money.payments.records import period_source
from services.money.payments.stars_subscriptions import StarsSubscriptions
from services.money.payments.unmatched import UnmatchedLedger
from services.money.staging import Staged
from services.money.subscriptions import SubscriptionService, UnknownPlanError

RefundRule = Callable[[Staged, Payment, float], None]


class Refunds:
    def __init__(
        self,
        commits: PaymentCommits,
        claims: Claims,
        invoices: Invoices,
        unmatched: UnmatchedLedger,
        stars_subscriptions: StarsSubscriptions,
        subscriptions: SubscriptionService,
        outbox: OutboxService,
    ) -> None:
        self._commits = commits
        self._claims = claims
        self._invoices = invoices
        self._unmatched = unmatched
        self._stars_subscriptions = stars_subscriptions
        self._subscriptions = subscriptions
        self._outbox = outbox
        # Run inside every refund of a payment, before its commit (a referral bonus taken
        # back): may add records to the same transaction.
        self.rules: list[RefundRule] = []

    async def begin(self, payment_id: str) -> Payment:
        """Claim a paid payment for a refund; a second press at once is refused."""
        await self._invoices.bring(payment_id)
        payment = self._invoices.require(payment_id)
        if payment.status != "paid":
            raise PaymentError(PaymentRefusal.NOT_PAID, payment.status)
        self._claims.claim(payment.id)
        return payment

    def end(self, payment_id: str) -> None:
        self._claims.release(payment_id)

    async def refund(self, payment_id: str, *, decided_by: int) -> Payment:
        """Record a refund (after the money went back) and take the unused period back.

        A charge of a Stars subscription also ends the subscription here: charges that
        still arrive for it are recorded as unmatched money, not credited (the caller
        cancels its renewal with Telegram)."""
        payment = self._invoices.require(payment_id)
        staged = Staged()
        refunded = self._stage_refund(staged, payment, decided_by, time.time())
        await self._commits.commit(staged)
        return refunded

    def _stage_refund(
        self, staged: Staged, payment: Payment, decided_by: int | None, now: float
    ) -> Payment:
        """The refund of a paid payment: its status, the unused period taken back, what
        the refund rules take back (a referral bonus), and a Stars subscription ended."""
        if payment.status != "paid":
            raise PaymentError(PaymentRefusal.NOT_PAID, payment.status)
        refunded = moved(payment, "refunded", now=now, decided_by=decided_by)
        self._invoices.table.stage(staged, refunded)
        self._subscriptions.stage_refund(staged, payment.user_id, period_source(payment), now)
        for rule in self.rules:
            rule(staged, payment, now)
        self._stars_subscriptions.stage_refunded(staged, payment, now)
        return refunded

    # Through the outbox -----------------------------------------------------------------
    async def request(self, payment_id: str, *, decided_by: int) -> OutboxItem:
        """An admin asks to return a Stars payment: the request is saved first (so a
        crash or a flaky Telegram never leaves it half done), then the outbox worker
        calls Telegram and `complete` records it. Refused while one is pending."""
        await self._invoices.bring(payment_id)
        payment = self._invoices.require(payment_id)
        if payment.method != "stars" or not payment.charge_id:
            raise PaymentError(PaymentRefusal.ONLY_STARS)
        if payment.status != "paid":
            raise PaymentError(PaymentRefusal.NOT_PAID, payment.status)
        item = self._outbox.new(
            "refund_stars",
            payment.user_id,
            charge_id=payment.charge_id,
            payment_id=payment.id,
            requested_by=decided_by,
        )
        await self._save_request(payment.id, item)
        return item

    async def request_unmatched(self, money_id: str, *, decided_by: int) -> OutboxItem:
        """The same for Stars recorded as not credited (`stars:<charge id>`)."""
        item = self._unmatched.refundable(money_id)
        assert item.user_id is not None  # refundable: Stars of a known user
        request = self._outbox.new(
            "refund_stars",
            item.user_id,
            charge_id=money_id.removeprefix("stars:"),
            payment_id=money_id,
            requested_by=decided_by,
        )
        await self._save_request(money_id, request)
        return request

    async def _save_request(self, key: str, item: OutboxItem) -> None:
        if self._outbox.pending_refund(key) is not None:
            raise PaymentError(PaymentRefusal.IN_PROGRESS)
        self._claims.claim(key)  # before the first await: one request at a time
        try:
            staged = Staged()
            self._outbox.stage(staged, item)
            await self._commits.commit(staged)
        finally:
            self._claims.release(key)

    async def complete(self, item: OutboxItem, now: float | None = None) -> list[OutboxItem]:
        """Telegram returned the Stars (or had already): record it with the request done,
        in one commit, plus what follows: the user told, a subscription's renewal cancelled.
        Returns those follow-ups (the worker runs them at once)."""
        moment = time.time() if now is None else now
        staged = Staged()
        follow_ups: list[OutboxItem] = []
        key = item.payment_id or ""
        if key.startswith("stars:"):
            recorded = self._unmatched.table.get(key)
            if recorded is not None and recorded.resolved_at is None:
                self._unmatched.stage_settled(
                    staged, recorded, item.requested_by, moment, "(refunded)"
                )
        else:
            await self._invoices.bring(key)
            payment = self._invoices.get(key)
            if payment is not None and payment.status == "paid":
                self._stage_refund(staged, payment, item.requested_by, moment)
                plan = self._plan_name(payment.plan_id)
                text = "pay_refunded_subscription" if payment.recurring_id else "pay_refunded"
                follow_ups.append(
                    self._outbox.tell(
                        staged, payment.user_id, text, {"payment_id": payment.id, "plan": plan}
                    )
                )
                cancel = self._stars_subscriptions.stage_cancel_after_refund(
                    staged, payment, moment
                )
                if cancel is not None:
                    follow_ups.append(cancel)
        self._outbox.stage_done(staged, item, moment)
        await self._commits.commit(staged)
        return follow_ups

    def _plan_name(self, plan_id: str) -> str:
        try:
            return self._subscriptions.plan(plan_id).name
        except UnknownPlanError:
            return plan_id
