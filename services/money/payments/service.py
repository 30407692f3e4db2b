"""`PaymentService`: the one face of the payment ledgers that handlers and the other
services use. It wires the ledgers together and hands each call to the one that owns it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable

from services.catalog import Plan
from services.models import (
    OutboxItem,
    Payment,
    PaymentMethod,
    PaymentStatus,
    StarsSubscription,
    UnmatchedMoney,
)
from services.money.outbox import OutboxService
from services.money.payments.arrivals import Arrivals
from services.money.payments.commits import Claims, PaymentCommits
from services.money.payments.credits import Credits
from services.money.payments.invoices import Invoices
from services.money.payments.records import ArrivalOutcome, CreditResult, MoneyArrival
from services.money.payments.refunds import Refunds
from services.money.payments.stars_subscriptions import StarsSubscriptions
from services.money.payments.unmatched import UnmatchedLedger
from services.money.staging import Staged
from services.money.subscriptions import SubscriptionService
from services.money.sync import MoneySync, synced
from services.storage.base import Retention, Storage, Transaction


class PaymentService:
    """Invoices, arriving and unmatched money, Stars subscriptions and refunds. Live
    records are in memory (see Retention); older ones are read from storage on demand."""

    def __init__(
        self,
        storage: Storage,
        subscriptions: SubscriptionService,
        retention: Retention,
        *,
        invoice_ttl: float,
        outbox: OutboxService | None = None,
        sync: MoneySync | None = None,
    ) -> None:
        self.sync = sync if sync is not None else MoneySync(storage)
        self.outbox = outbox if outbox is not None else OutboxService(storage, self.sync)
        commits = PaymentCommits(storage)
        claims = Claims()  # payments with a refund, subscriptions with a renewal change
        self._commits = commits
        self._invoices = Invoices(commits, subscriptions, self.outbox, retention, invoice_ttl)
        self._unmatched = UnmatchedLedger(commits, retention)
        self._credits = Credits(
            commits, self._invoices, self._unmatched, subscriptions, self.outbox
        )
        self._stars = StarsSubscriptions(
            commits,
            claims,
            self._invoices,
            self._unmatched,
            self._credits,
            subscriptions,
            self.outbox,
            retention,
            invoice_ttl,
        )
        self._arrivals = Arrivals(
            commits, self._invoices, self._unmatched, self._credits, self._stars
        )
        self._refunds = Refunds(
            commits,
            claims,
            self._invoices,
            self._unmatched,
            self._stars,
            subscriptions,
            self.outbox,
        )
        # Hooks, each the owning ledger's own list (append to them):
        self.credit_listeners = self._credits.listeners  # once per payment that became paid
        self.credit_rules = self._credits.rules  # add to a credit's transaction, no await
        self.refund_rules = self._refunds.rules  # the same for a refund
        self.arrival_failed = self._arrivals.failed  # set when a credit failed (retried)
        self.failure_listeners = self._arrivals.failure_listeners  # not even recorded
        self.unmatched_listeners = self._unmatched.listeners  # once per unmatched record

    async def load(
        self,
        payments: list[Payment],
        unmatched: list[UnmatchedMoney],
        stars_subscriptions: Iterable[StarsSubscription] = (),
    ) -> None:
        self._unmatched.load(unmatched)
        self._stars.load(stars_subscriptions)
        await self._invoices.load(payments)

    def absorb(self, transaction: Transaction) -> None:
        """Take in payments, unmatched money and Stars subscriptions another process
        committed (see MoneySync)."""
        for payment in transaction.payments:
            self._invoices.table.install(payment)
        for item in transaction.unmatched:
            self._unmatched.table.install(item)
        for record in transaction.stars_subscriptions:
            self._stars.table.install(record)

    def prune(self, now: float | None = None) -> None:
        """Forget payments, unmatched money and Stars subscriptions that left the live set."""
        moment = time.time() if now is None else now
        self._invoices.prune(moment)
        self._unmatched.prune(moment)
        self._stars.prune(moment)

    # Queries ----------------------------------------------------------------------
    def get(self, payment_id: str) -> Payment | None:
        """A live payment (pending, or changed recently)."""
        return self._invoices.get(payment_id)

    async def find(self, payment_id: str) -> Payment | None:
        """Any payment, also from the history (by id, or a live SBP payment's number)."""
        return await self._invoices.find(self._invoices.resolve(payment_id))

    def resolve(self, reference: str) -> str:
        """The payment id a person's reference names: an id, or a live SBP payment's
        number ("123456", "№123456"). Money that arrives is matched by id only."""
        return self._invoices.resolve(reference)

    def live(self) -> list[Payment]:
        return self._invoices.live()

    def with_status(
        self, *statuses: PaymentStatus, method: PaymentMethod | None = None
    ) -> list[Payment]:
        return self._invoices.with_status(*statuses, method=method)

    def history(self) -> AsyncIterator[Payment]:
        """Every payment ever made, each in its latest state, streamed from storage."""
        return self._invoices.history()

    async def paid_since(self, since: float, user_id: int | None = None) -> list[Payment]:
        """Payments paid at or after `since` (of one user, if given)."""
        return await self._invoices.paid_since(since, user_id)

    def unmatched(self) -> list[UnmatchedMoney]:
        """Recorded arrivals an admin has not settled yet, oldest first."""
        return self._unmatched.open_items()

    def stars_checkout_ok(self, payload: str, user_id: int, currency: str, amount: int) -> bool:
        """Telegram's pre-checkout question for a Stars invoice or subscription link: may
        it be paid now? Reads memory only (the answer is due within 10 s)."""
        record = self._stars.get(payload)
        if record is not None:
            return self._stars.checkout_ok(record, user_id, currency, amount)
        return self._invoices.checkout_ok(payload, user_id, currency, amount)

    def plan_of(self, payment: Payment) -> Plan:
        return self._invoices.plan_of(payment)

    # Invoices ---------------------------------------------------------------------
    @synced
    async def open_invoice(
        self, user_id: int, plan_id: str, method: str, now: float | None = None
    ) -> Payment:
        """The user's open invoice for this plan and method (a second press shows it
        again), or a new one."""
        return await self._invoices.open_invoice(user_id, plan_id, method, now)

    @synced
    async def reject(self, payment_id: str, *, reason: str, decided_by: int) -> Payment:
        payment_id = self._invoices.resolve(payment_id)
        return await self._invoices.reject(payment_id, reason=reason, decided_by=decided_by)

    @synced
    async def take_receipt(self, payment_id: str, *, attached: bool) -> Payment | None:
        """SBP: a receipt or "I have paid"; the invoice if the managers should get it now."""
        return await self._invoices.take_receipt(payment_id, attached=attached)

    @synced
    async def note(self, payment: Payment, text: str) -> Payment:
        return await self._invoices.note(payment, text)

    @synced
    async def expire_stale(self, max_age: float, now: float | None = None) -> list[Payment]:
        """Pending payments older than `max_age` seconds become expired: one commit."""
        return await self._invoices.expire_stale(max_age, now)

    # Money arriving and credits -------------------------------------------------------
    @synced
    async def accept(self, arrival: MoneyArrival, *, minimum_share: float = 1.0) -> ArrivalOutcome:
        """The one path for money a payment system reports (see `Arrivals.accept`)."""
        return await self._arrivals.accept(arrival, minimum_share=minimum_share)

    @synced
    async def accept_or_record(
        self, arrival: MoneyArrival, *, minimum_share: float = 1.0
    ) -> ArrivalOutcome:
        """`accept`, never raising for one arrival's sake (a failure is recorded)."""
        return await self._arrivals.accept_or_record(arrival, minimum_share=minimum_share)

    @synced
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
        """Mark a payment paid and add its plan period, exactly once (see `Credits`)."""
        return await self._credits.credit(
            payment_id,
            received_amount=received_amount,
            operations=operations,
            operation_id=operation_id,
            charge_id=charge_id,
            decided_by=decided_by,
            retried=retried,
        )

    @synced
    async def confirm(self, payment_id: str, *, decided_by: int) -> CreditResult:
        """A manager confirms by hand (by id or SBP number): SBP, or YooMoney money that
        arrived short."""
        payment_id = self._invoices.resolve(payment_id)
        return await self._credits.confirm(payment_id, decided_by=decided_by)

    # Unmatched money ------------------------------------------------------------------
    @synced
    async def record_unmatched(self, item: UnmatchedMoney) -> UnmatchedMoney | None:
        """Record money that could not be credited, once per arrival; admins are told."""
        return await self._unmatched.record(item)

    @synced
    async def resolve_unmatched(self, money_id: str, *, decided_by: int) -> UnmatchedMoney:
        """An admin settled it (refunded, credited by hand, or it was not for us)."""
        return await self._unmatched.resolve(money_id, decided_by=decided_by)

    # Stars subscriptions -------------------------------------------------------------
    def stars_subscription(self, subscription_id: str) -> StarsSubscription | None:
        return self._stars.get(subscription_id)

    def stars_subscriptions(self, user_id: int) -> list[StarsSubscription]:
        """The user's live Stars subscription records (paid or not), oldest first."""
        return self._stars.of_user(user_id)

    def running_subscriptions(
        self, user_id: int, now: float | None = None
    ) -> list[StarsSubscription]:
        """The user's paid Stars subscriptions inside their period."""
        return self._stars.running(user_id, now)

    @synced
    async def open_subscription(
        self, user_id: int, plan_id: str, now: float | None = None
    ) -> StarsSubscription:
        """The record a Stars subscription link names: the unpaid one, or a new one."""
        return await self._stars.open(user_id, plan_id, now)

    def begin_renewal_change(
        self, user_id: int, subscription_id: str, *, cancel: bool, now: float | None = None
    ) -> StarsSubscription:
        """Claim a running subscription to change its renewal; `end_renewal_change` after."""
        return self._stars.begin_renewal_change(user_id, subscription_id, cancel=cancel, now=now)

    def end_renewal_change(self, subscription_id: str) -> None:
        self._stars.end_renewal_change(subscription_id)

    @synced
    async def set_renewal(self, subscription_id: str, *, canceled: bool) -> StarsSubscription:
        """Record that Telegram renews the subscription no more, or again."""
        return await self._stars.set_renewal(subscription_id, canceled=canceled)

    @synced
    async def complete_cancel(self, item: OutboxItem, now: float | None = None) -> None:
        """Telegram cancelled a subscription's renewal: record it with the request done."""
        await self._stars.complete_cancel(item, now)

    # Refunds --------------------------------------------------------------------------
    @synced
    async def begin_refund(self, payment_id: str) -> Payment:
        """Claim a paid payment for a refund; a second press at once is refused."""
        return await self._refunds.begin(payment_id)

    def end_refund(self, payment_id: str) -> None:
        self._refunds.end(payment_id)

    @synced
    async def refund(self, payment_id: str, *, decided_by: int) -> Payment:
        """Record a refund (after the money went back) and take the unused period back."""
        return await self._refunds.refund(payment_id, decided_by=decided_by)

    @synced
    async def request_refund(self, payment_id: str, *, decided_by: int) -> OutboxItem:
        """Return a Stars payment through the outbox (the request saved first)."""
        return await self._refunds.request(payment_id, decided_by=decided_by)

    @synced
    async def request_unmatched_refund(self, money_id: str, *, decided_by: int) -> OutboxItem:
        """The same for Stars recorded as not credited (`stars:<charge id>`)."""
        return await self._refunds.request_unmatched(money_id, decided_by=decided_by)

    @synced
    async def complete_refund(self, item: OutboxItem, now: float | None = None) -> list[OutboxItem]:
        """Telegram returned the Stars: record it, with its follow-ups (returned)."""
        return await self._refunds.complete(item, now)

    @synced
    async def tell_later(self, user_id: int, text: str, params: dict[str, str]) -> None:
        """Tell a user something through the outbox (retried until Telegram takes it)."""
        staged = Staged()
        self.outbox.tell(staged, user_id, text, params)
        await self._commits.commit(staged)
