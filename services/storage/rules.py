"""The money rules of the contract, checked at commit over the records a store knows.

A database states them as constraints; a store without constraints (the JSON files, the
memory store) keeps this index of the records they involve and checks every transaction
against it before writing: `claim` raises ConflictError and changes nothing, or applies
the transaction to the index and returns how to take it back (the write failed). The
services check the same rules in their own memory first; this is the store's word.

The JSON store's index holds the live records only (see Retention), so a rule between a
new record and one long archived is the services' to check (they look the history up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from services.models import Payment, PromoCode, Referral, StarsSubscription, UnmatchedMoney
from services.storage.base import (
    TRANSITIONS,
    ConflictError,
    MoneyRule,
    MoneyState,
    Retention,
    Transaction,
)

Undo = Callable[[], None]
OpenKey = tuple[int, str, str]  # user, plan, method


def money_events(payment: Payment) -> Iterable[str]:
    """The arrivals a payment was credited with ("<method>:<operation or charge id>")."""
    operations = {*payment.operations, *([payment.operation_id] if payment.operation_id else [])}
    for operation in operations:
        yield f"{payment.method}:{operation}"
    if payment.charge_id:
        yield f"stars:{payment.charge_id}"


class _Changes:
    """What a claim changed in the index, to be put back in reverse order; an entry a
    later claim has changed since stays as that claim left it."""

    def __init__(self) -> None:
        self._undo: list[Undo] = []

    def put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        old = table.get(key, _ABSENT)
        table[key] = value

        def undo() -> None:
            if table.get(key, _ABSENT) is value:
                if old is _ABSENT:
                    del table[key]
                else:
                    table[key] = old

        self._undo.append(undo)

    def delete(self, table: dict[Any, Any], key: Any) -> None:
        if key not in table:
            return
        old = table.pop(key)
        self._undo.append(lambda: table.setdefault(key, old))

    def add(self, members: set[Any], member: Any) -> None:
        members.add(member)
        self._undo.append(lambda: members.discard(member))

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()


_ABSENT: Any = object()


class MoneyRules:
    """The records the rules involve, by the keys the rules are about."""

    def __init__(self, retention: Retention) -> None:
        self._reuse_after = retention.invoice_reuse_seconds
        self._payments: dict[str, Payment] = {}
        self._open: dict[OpenKey, str] = {}  # the pending invoice of a user, plan, method
        self._credited: dict[str, str] = {}  # money event -> the payment credited with it
        self._unmatched: dict[str, UnmatchedMoney] = {}
        self._promo_codes: dict[str, PromoCode] = {}
        self._promo_users: dict[str, set[int]] = {}  # code -> the users who activated it
        self._stars: dict[str, StarsSubscription] = {}
        self._charges: dict[str, str] = {}  # Stars charge -> its subscription
        self._code_owner: dict[str, int] = {}  # referral code -> user
        self._user_code: dict[int, str] = {}
        self._referrals: dict[int, Referral] = {}

    def load(self, state: MoneyState) -> None:
        """Index the loaded records (trusted: they were checked when written)."""
        payments, open_, credited = self._payments, self._open, self._credited
        for payment in state.payments:  # tens of thousands at start-up: kept lean
            payments[payment.id] = payment
            if payment.status == "pending":
                open_.setdefault((payment.user_id, payment.plan_id, payment.method), payment.id)
            if payment.operations or payment.operation_id or payment.charge_id:
                for event in money_events(payment):
                    credited[event] = payment.id
        for item in state.unmatched:
            self._unmatched[item.id] = item
        for promo in state.promo_codes:
            self._promo_codes[promo.code] = promo
        for activation in state.promo_activations:
            self._promo_users.setdefault(activation.code, set()).add(activation.user_id)
        for record in state.stars_subscriptions:
            self._stars[record.id] = record
            for charge in record.charges:
                self._charges[charge] = record.id
        for code in state.referral_codes:
            self._code_owner[code.code] = code.user_id
            self._user_code[code.user_id] = code.code
        for referral in state.referrals:
            self._referrals[referral.user_id] = referral

    def prune(self, retention: Retention, now: float) -> None:
        """Forget records that left the live set (as the services do)."""
        for payment in [
            p for p in self._payments.values() if not retention.payment_is_live(p, now)
        ]:
            self._forget_payment(payment)
        for item in [
            u for u in self._unmatched.values() if not retention.unmatched_is_live(u, now)
        ]:
            del self._unmatched[item.id]
        for record in [
            s for s in self._stars.values() if not retention.stars_subscription_is_live(s, now)
        ]:
            del self._stars[record.id]
            for charge in record.charges:
                if self._charges.get(charge) == record.id:
                    del self._charges[charge]

    def claim(self, transaction: Transaction) -> Undo:
        """Check the transaction and apply it to the index; ConflictError (nothing
        changed) if it breaks a rule. Returns the undo for a write that failed."""
        changes = _Changes()
        try:
            self._claim(transaction, changes)
        except ConflictError:
            changes.undo()
            raise
        return changes.undo

    def _claim(self, transaction: Transaction, changes: _Changes) -> None:
        newly_open: list[Payment] = []
        for payment in transaction.payments:
            old = self._payments.get(payment.id)
            moved = old is not None and old.status != payment.status
            if moved and old is not None and payment.status not in TRANSITIONS[old.status]:
                raise ConflictError(MoneyRule.STATUS_FORWARD, payment.id)
            if payment.status == "pending" and (old is None or old.status != "pending"):
                newly_open.append(payment)
            for event in money_events(payment):
                if self._credited.get(event, payment.id) != payment.id:
                    raise ConflictError(MoneyRule.MONEY_EVENT_ONCE, event)
            self._put_payment(payment, changes)
        for payment in newly_open:  # after the transaction's other invoices moved on
            key = (payment.user_id, payment.plan_id, payment.method)
            if self._still_open(key, payment):
                raise ConflictError(MoneyRule.ONE_OPEN_INVOICE, payment.id)
            changes.put(self._open, key, payment.id)
        for item in transaction.unmatched:
            if item.id in self._unmatched and item.resolved_at is None:
                raise ConflictError(MoneyRule.MONEY_EVENT_ONCE, item.id)
            changes.put(self._unmatched, item.id, item)
        self._claim_promo(transaction, changes)
        for record in transaction.stars_subscriptions:
            if len(set(record.charges)) != len(record.charges):
                raise ConflictError(MoneyRule.STARS_CHARGE_ONCE, record.id)
            for charge in record.charges:
                if self._charges.get(charge, record.id) != record.id:
                    raise ConflictError(MoneyRule.STARS_CHARGE_ONCE, charge)
                changes.put(self._charges, charge, record.id)
            changes.put(self._stars, record.id, record)
        self._claim_referrals(transaction, changes)

    def _still_open(self, key: OpenKey, new: Payment) -> bool:
        """Whether another invoice is open for the key and not yet near its expiry."""
        other = self._payments.get(self._open.get(key, new.id))
        if other is None or other.id == new.id or other.status != "pending":
            return False
        return self._reuse_after > 0 and new.created_at - other.created_at < self._reuse_after

    def _claim_promo(self, transaction: Transaction, changes: _Changes) -> None:
        for promo in transaction.promo_codes:
            changes.put(self._promo_codes, promo.code, promo)
        for code in transaction.deleted_promo_codes:  # its activations stay (and count)
            changes.delete(self._promo_codes, code)
        for activation in transaction.promo_activations:
            users = self._promo_users.setdefault(activation.code, set())
            if activation.user_id in users:
                key = f"{activation.code}:{activation.user_id}"
                raise ConflictError(MoneyRule.PROMO_ONCE_PER_USER, key)
            limit = self._promo_codes.get(activation.code)
            if limit is not None and limit.max_uses is not None and len(users) >= limit.max_uses:
                raise ConflictError(MoneyRule.PROMO_MAX_USES, activation.code)
            changes.add(users, activation.user_id)

    def _claim_referrals(self, transaction: Transaction, changes: _Changes) -> None:
        for code in transaction.referral_codes:
            owner = self._code_owner.get(code.code, code.user_id)
            if owner != code.user_id or self._user_code.get(code.user_id, code.code) != code.code:
                raise ConflictError(MoneyRule.REFERRAL_CODE_UNIQUE, code.code)
            changes.put(self._code_owner, code.code, code.user_id)
            changes.put(self._user_code, code.user_id, code.code)
        for referral in transaction.referrals:
            old = self._referrals.get(referral.user_id)
            if old is not None:
                if old.inviter_id != referral.inviter_id:
                    raise ConflictError(MoneyRule.INVITED_ONCE, str(referral.user_id))
                if old.payment_id is not None and (old.payment_id, old.reward_plan) != (
                    referral.payment_id,
                    referral.reward_plan,
                ):
                    raise ConflictError(MoneyRule.REWARD_ONCE, str(referral.user_id))
            changes.put(self._referrals, referral.user_id, referral)

    def _put_payment(self, payment: Payment, changes: _Changes) -> None:
        changes.put(self._payments, payment.id, payment)
        key = (payment.user_id, payment.plan_id, payment.method)
        if payment.status != "pending" and self._open.get(key) == payment.id:
            changes.delete(self._open, key)
        elif payment.status == "pending" and key not in self._open:
            changes.put(self._open, key, payment.id)
        for event in money_events(payment):
            changes.put(self._credited, event, payment.id)

    def _forget_payment(self, payment: Payment) -> None:
        del self._payments[payment.id]
        key = (payment.user_id, payment.plan_id, payment.method)
        if self._open.get(key) == payment.id:
            del self._open[key]
        for event in money_events(payment):
            if self._credited.get(event) == payment.id:
                del self._credited[event]
