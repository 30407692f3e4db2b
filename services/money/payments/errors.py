"""Why a payment action is refused: one word per refusal, for handlers to pick a text."""

from __future__ import annotations

from enum import StrEnum

from services.models import PaymentStatus
from services.storage.base import MoneyRule


class PaymentRefusal(StrEnum):
    NOT_FOUND = "not_found"  # no such payment, record or subscription
    BAD_METHOD = "bad_method"  # not one of PAYMENT_METHODS
    BAD_PRICE = "bad_price"  # a Stars price Telegram's subscriptions do not take
    ALREADY_RENEWING = "already_renewing"  # a Stars subscription to the plan renews
    NOT_RUNNING = "not_running"  # not the user's running Stars subscription
    UNCHANGED = "unchanged"  # the renewal is already as asked
    IN_PROGRESS = "in_progress"  # a refund or renewal change of it runs right now
    DECIDED = "decided"  # confirm: already paid, rejected or refunded (`status`)
    NOT_BY_HAND = "not_by_hand"  # confirm: YooMoney and Stars credit themselves
    NOT_CREDITABLE = "not_creditable"  # credit: its status cannot become paid
    NOT_PENDING = "not_pending"  # reject or receipt: no longer open (`status`)
    NOT_PAID = "not_paid"  # refund: not paid (`status`)
    BAD_TRANSITION = "bad_transition"  # a status may not follow `status`
    ONLY_STARS = "only_stars"  # refunds through the bot return Stars only
    NOT_STARS = "not_stars"  # not credited money that is not Stars of a known user
    ALREADY_RESOLVED = "already_resolved"  # not credited money already settled
    CONFLICT = "conflict"  # the store refused the write: a money rule (`rule`) holds


class PaymentError(Exception):
    """A payment action is refused: `reason` says why, `status` is the payment's status
    where the reason is about it, `rule` the store's money rule for a CONFLICT."""

    def __init__(
        self,
        reason: PaymentRefusal,
        status: PaymentStatus | None = None,
        *,
        rule: MoneyRule | None = None,
    ) -> None:
        message = reason.value if status is None else f"{reason.value}_{status}"
        super().__init__(message if rule is None else f"{message} ({rule.value})")
        self.reason = reason
        self.status = status
        self.rule = rule
