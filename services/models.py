"""Plain data objects shared by services and storage (no Telegram types here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["system", "user", "assistant"]


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
    images: tuple[str, ...] = ()  # the user's pictures: ids for Storage.load_image


@dataclass(slots=True, frozen=True)
class Conversation:
    """One of a user's (or a group's) conversations: its own model, mode and memory."""

    id: str
    title: str  # from the first question, or renamed
    created_at: float
    updated_at: float
    model_key: str | None = None
    mode: str = "assistant"  # a preset's key (catalog), or "custom"
    instruction: str = ""  # the custom instruction, for mode "custom"


TITLE_LENGTH = 40


def title_from(question: str) -> str:
    """A conversation's title: the start of its first question, on one line."""
    line = " ".join(question.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


@dataclass(slots=True, frozen=True)
class Conversations:
    """An owner's conversations, newest last, and the one new messages go to."""

    current: str | None = None
    items: tuple[Conversation, ...] = ()

    def get(self, conversation_id: str | None) -> Conversation | None:
        return next((item for item in self.items if item.id == conversation_id), None)

    def with_item(self, changed: Conversation) -> Conversations:
        """The same list with one conversation replaced by its new version."""
        items = tuple(changed if item.id == changed.id else item for item in self.items)
        return Conversations(current=self.current, items=items)


@dataclass(slots=True)
class Usage:
    """Token counts reported by a provider for one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True, frozen=True)
class Period:
    """A stretch of time a plan is active, and what paid for it."""

    start: float
    end: float
    source: str  # "payment:<id>", "promo:<CODE>" or "admin:<admin id>:<time>"


@dataclass(slots=True, frozen=True)
class Subscription:
    """One user's plan: its periods (back to back when extended) and reminders sent."""

    user_id: int
    plan_id: str
    periods: tuple[Period, ...] = ()
    reminders_sent: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.user_id}:{self.plan_id}"

    @property
    def end(self) -> float:
        return max((period.end for period in self.periods), default=0.0)

    def is_active(self, now: float) -> bool:
        return any(period.start <= now < period.end for period in self.periods)

    def has_source(self, source: str) -> bool:
        return any(period.source == source for period in self.periods)


@dataclass(slots=True, frozen=True)
class PromoActivation:
    code: str
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
    disabled: bool = False


# The payment vocabulary: each word is stored as written here (JSON strings).
PaymentMethod = Literal["yoomoney", "sbp", "stars"]
PAYMENT_METHODS: tuple[PaymentMethod, ...] = get_args(PaymentMethod)


def payment_method(value: str) -> PaymentMethod | None:
    """`value` as a payment method, or None if it names none."""
    return next((method for method in PAYMENT_METHODS if method == value), None)


PaymentStatus = Literal["pending", "paid", "rejected", "expired", "refunded"]


@dataclass(slots=True)
class Payment:
    """One attempt to buy a plan; its status only moves forward.

    Treated as immutable: a change is a `dataclasses.replace` copy, committed first."""

    id: str  # also the YooMoney label and the Stars invoice payload
    user_id: int
    plan_id: str
    method: PaymentMethod
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
    receipts: int = 0  # SBP: receipts (photos, files) copied to the managers
    operations: tuple[str, ...] = ()  # YooMoney operations counted into received_amount
    recurring_id: str | None = None  # the StarsSubscription this payment is a charge of
    # SBP: the short number the user types into the bank's comment (6 digits, unique among
    # live payments; the id stays internal). None for other methods and older invoices.
    number: str | None = None


@dataclass(slots=True, frozen=True)
class StarsSubscription:
    """A plan bought as a Telegram Stars subscription: Telegram charges the user every 30
    days by itself, and each charge becomes a paid `Payment` of its own (its
    `recurring_id` names this record) that adds the plan's days.

    The id is the invoice payload of the subscription's link: every charge carries it back.
    Treated as immutable: a change is a `dataclasses.replace` copy, committed first."""

    id: str
    user_id: int
    plan_id: str
    stars: int  # the price per period, fixed when the link was made
    created_at: float
    updated_at: float
    first_charge_id: str | None = None  # the first payment's charge: names it to Telegram
    charges: tuple[str, ...] = ()  # every charge id credited for it, oldest first
    expires_at: float | None = None  # subscription_expiration_date of the latest charge
    canceled: bool = False  # renewal cancelled through the bot (the period still runs)
    refunded_at: float | None = None  # a charge was refunded: later charges are not credited

    def renews(self, now: float) -> bool:
        """Paid, running, and Telegram will charge again at `expires_at`."""
        return self.is_running(now) and not self.canceled

    def is_running(self, now: float) -> bool:
        """Paid and inside its current Telegram period, and not ended by a refund."""
        return (
            self.first_charge_id is not None
            and self.refunded_at is None
            and (self.expires_at or 0.0) > now
        )


# Why money was not credited: the invoice it names was already paid, rejected or
# refunded; no invoice or subscription of ours (or another user's); less than accepted
# (older records only: short money now waits on its invoice); its plan left the catalog;
# or writing the credit failed ("error": retried).
UnmatchedReason = Literal[
    "paid", "rejected", "refunded", "unknown", "underpaid", "plan_missing", "error"
]


@dataclass(slots=True, frozen=True)
class UnmatchedMoney:
    """Money that arrived but was not credited: recorded, reported, never dropped."""

    id: str  # "<method>:<operation or charge id>": each arrival is recorded once
    method: PaymentMethod
    amount: float
    currency: str
    reference: str  # the YooMoney label or the Stars invoice payload
    payment_id: str | None
    user_id: int | None
    reason: UnmatchedReason
    at: float
    detail: str = ""
    resolved_at: float | None = None
    resolved_by: int | None = None


@dataclass(slots=True, frozen=True)
class ReferralCode:
    """A user's own invite code (`t.me/<bot>?start=ref_<code>`): random, one per user,
    never changed. Unique both ways: one code per user, one user per code."""

    user_id: int
    code: str
    created_at: float


@dataclass(slots=True, frozen=True)
class Referral:
    """A new user who came through another user's invite link (one per invited user),
    and what the invited user's first credited payment gave the inviter (once).

    Treated as immutable: a change is a `dataclasses.replace` copy, committed first."""

    user_id: int  # the invited user
    inviter_id: int
    at: float
    payment_id: str | None = None  # the invited user's first credited payment
    paid_at: float | None = None
    reward_plan: str | None = None  # what the inviter got for it (None: no plan days)
    reward_days: int = 0  # days of the plan, or of the extra requests
    reward_requests: int = 0  # extra free requests a day, for reward_days days
    refunded_at: float | None = None  # that payment was refunded: the bonus is taken back

    @property
    def rewarded(self) -> bool:
        granted = self.reward_plan is not None or self.reward_requests > 0
        return granted and self.refunded_at is None

    def extra_requests(self, now: float) -> int:
        """The extra free requests a day this referral gives its inviter at `now`."""
        if not self.reward_requests or self.paid_at is None or self.refunded_at is not None:
            return 0
        return self.reward_requests if now < self.paid_at + self.reward_days * 86400 else 0


OutboxKind = Literal["refund_stars", "cancel_renewal", "tell_user"]


@dataclass(slots=True, frozen=True)
class OutboxItem:
    """A side effect at Telegram that follows a saved change (returning Stars, cancelling a
    subscription's renewal, telling a user), committed with that change and done by the
    outbox worker: retried until Telegram does it or finally refuses.

    Treated as immutable: a change is a `dataclasses.replace` copy, committed first."""

    id: str
    kind: OutboxKind
    user_id: int
    created_at: float
    due_at: float  # not tried before this moment (a retry's back-off)
    attempts: int = 0
    charge_id: str | None = None  # refund_stars: the charge; cancel_renewal: its first
    payment_id: str | None = None  # refund_stars: the payment, or "stars:<charge>" money
    subscription_id: str | None = None  # cancel_renewal: the Stars subscription
    text: str | None = None  # tell_user: the text's key
    params: tuple[tuple[str, str], ...] = ()  # tell_user: the text's parameters
    moments: tuple[tuple[str, float], ...] = ()  # tell_user: dates, shown in TIMEZONE
    requested_by: int | None = None  # the admin who asked for it
    done_at: float | None = None  # done (or given up: `failed` says why)
    failed: str | None = None  # Telegram's final refusal
    last_error: str | None = None  # the last temporary failure (retried)


DeliveryOutcome = Literal["delivered", "blocked", "failed"]


@dataclass(slots=True)
class Broadcast:
    """A message an admin sends to every user, and how far its delivery got."""

    id: str
    created_by: int
    created_at: float
    # What to send: a text (HTML) or a copy of a message in the admin's chat.
    text: str | None = None
    from_chat_id: int | None = None
    message_id: int | None = None
    status: str = "draft"  # draft -> running -> done | cancelled
    total: int = 0
    delivered: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0  # in flight at a crash: not retried, so never sent twice
    status_chat_id: int | None = None
    status_message_id: int | None = None

    @property
    def processed(self) -> int:
        return self.delivered + self.blocked + self.failed + self.skipped
