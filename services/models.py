"""Plain data objects shared by services and storage (no Telegram types here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["user", "assistant"]


@dataclass(slots=True)
class UserRecord:
    """A bot user and their settings."""

    id: int
    first_name: str = ""
    username: str | None = None
    language: str = "ru"
    model_key: str | None = None
    created_at: float = 0.0
    blocked: bool = False


@dataclass(slots=True, frozen=True)
class ChatTurn:
    """One message of a conversation kept as the model's memory."""

    role: Role
    content: str


@dataclass(slots=True)
class Usage:
    """Token counts reported by a provider for one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class Period:
    """A stretch of time a plan is active, and what paid for it."""

    start: float
    end: float
    source: str  # "payment:<id>", "promo:<CODE>" or "admin:<admin id>:<time>"


@dataclass(slots=True)
class Subscription:
    """One user's plan: its periods (back to back when extended) and reminders sent."""

    user_id: int
    plan_id: str
    periods: list[Period]
    reminders_sent: list[str]

    @property
    def end(self) -> float:
        return max((period.end for period in self.periods), default=0.0)

    def is_active(self, now: float) -> bool:
        return any(period.start <= now < period.end for period in self.periods)

    def has_source(self, source: str) -> bool:
        return any(period.source == source for period in self.periods)


@dataclass(slots=True)
class PromoActivation:
    user_id: int
    at: float


@dataclass(slots=True)
class PromoCode:
    """A code (stored upper-case) that grants `days` of a plan."""

    code: str
    plan_id: str
    days: int
    max_uses: int | None
    valid_until: str | None  # last valid date, YYYY-MM-DD in the bot's time zone
    created_at: float
    created_by: int
    activations: list[PromoActivation]
    disabled: bool = False

    def used_by(self, user_id: int) -> bool:
        return any(activation.user_id == user_id for activation in self.activations)


PaymentStatus = Literal["pending", "paid", "rejected", "expired", "refunded"]


@dataclass(slots=True)
class Payment:
    """One attempt to buy a plan; its status only moves forward."""

    id: str  # also the YooMoney label and the Stars invoice payload
    user_id: int
    plan_id: str
    method: str  # "yoomoney" | "sbp" | "stars"
    amount: float  # the price asked: RUB, or Stars for "stars"
    currency: str  # "RUB" | "XTR"
    status: PaymentStatus
    created_at: float
    updated_at: float
    paid_at: float | None = None
    received_amount: float | None = None
    operation_id: str | None = None  # YooMoney operation
    charge_id: str | None = None  # telegram_payment_charge_id
    decided_by: int | None = None  # the admin who confirmed or rejected
    note: str | None = None  # reject reason, or why money was not accepted
    receipt_sent: bool = False  # SBP: the user sent a receipt or pressed "I paid"
