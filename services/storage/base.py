"""The one storage interface the services use; JSON files today, a database later.

Money records (payments, subscriptions, promo codes and activations, unmatched money)
change only through `commit(Transaction)`, which lands whole or not at all. The rules
(`MoneyRule`) a database implementation enforces with constraints, and the services
check before they commit (one process, checks and claims before the first await, the
fast path); a commit that would break one raises `ConflictError` and writes nothing
(the JSON store from its own checks at commit, a database from its constraints):
- a payment's status moves only along `TRANSITIONS`;
- at most one open (pending) invoice per user, plan and method, but for one near its
  expiry (`Retention.invoice_reuse_seconds`), which a new one replaces;
- a promo code is activated once per user and at most `max_uses` times;
- a money event (`UnmatchedMoney.id`: method and operation or charge id) is recorded once;
- a Stars subscription's charge (`telegram_payment_charge_id`) is credited once: it is
  kept in its `StarsSubscription.charges` and names its payment (`charge_payment_id`);
- a referral code belongs to one user and a user has one code (`ReferralCode`, unique
  both ways); a user is invited once (`Referral.user_id`), and its reward (`payment_id`,
  `reward_plan`) is set once, in the same transaction as the payment and the bonus period.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.models import (
    Broadcast,
    ChatTurn,
    Conversations,
    DeliveryOutcome,
    OutboxItem,
    Payment,
    PaymentStatus,
    PromoActivation,
    PromoCode,
    Referral,
    ReferralCode,
    StarsSubscription,
    Subscription,
    UnmatchedMoney,
    UserRecord,
)

DAY = 86_400.0


# Which payment status may follow which: forward only.
TRANSITIONS: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    "pending": frozenset({"paid", "rejected", "expired"}),
    "expired": frozenset({"paid", "rejected"}),  # late money, or a manager's late decision
    "paid": frozenset({"refunded"}),
    "rejected": frozenset(),
    "refunded": frozenset(),
}


class StorageError(Exception):
    """What the storage contract raises (a write that fails is an OSError)."""


class StorageDamagedError(StorageError):
    """A money or entitlement file cannot be read; the message names it and the backup."""


class DamagedRecordError(StorageError):
    """A record that is not money (statistics, a state marker) could not be read: `what`
    and why; `moved_to` is where it was set aside (it then reads as absent), or None."""

    def __init__(self, what: str, reason: str, moved_to: str | None = None) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason
        self.moved_to = moved_to


class MoneyRule(StrEnum):
    """The money rules every Storage holds at commit (a database: its constraints)."""

    STATUS_FORWARD = "status_forward"  # a payment's status moves along TRANSITIONS only
    ONE_OPEN_INVOICE = "one_open_invoice"  # one pending invoice per user, plan and method
    PROMO_ONCE_PER_USER = "promo_once_per_user"
    PROMO_MAX_USES = "promo_max_uses"
    MONEY_EVENT_ONCE = "money_event_once"  # an arrival (operation, charge) recorded once
    STARS_CHARGE_ONCE = "stars_charge_once"  # a Stars subscription's charge credited once
    REFERRAL_CODE_UNIQUE = "referral_code_unique"  # one code per user, one user per code
    INVITED_ONCE = "invited_once"  # a user is invited once, by one inviter
    REWARD_ONCE = "reward_once"  # an invitation's reward is set once
    # A shared store only: the record changed (another process committed it) since this
    # process last read it; catch up with `money_changes()` and decide again.
    STALE = "stale"


class ConflictError(StorageError):
    """A commit would break `rule` (for the record `key`): nothing of it was written.

    The services' own checks refuse such a change before they commit; this is the same
    refusal from the store (another process got there first, or a check was missed)."""

    def __init__(self, rule: MoneyRule, key: str) -> None:
        super().__init__(f"money rule {rule.value} violated by {key}")
        self.rule = rule
        self.key = key


@dataclass(slots=True, frozen=True)
class Retention:
    """Which money records stay live (loaded at start-up, kept in memory); the rest is
    history, read on demand. A database keeps everything and filters with these rules."""

    open_payment_seconds: float  # an expired invoice may still receive money this long
    recent_seconds: float = 3 * DAY  # closed records stay live this long after a change
    subscription_seconds: float = 7 * DAY  # an ended plan stays live (reminders, refunds)
    # An open invoice may be replaced by a new one (for the same user, plan and method)
    # this long after it was made: near its expiry. 0: at any time.
    invoice_reuse_seconds: float = 0.0

    def payment_is_live(self, payment: Payment, now: float) -> bool:
        if payment.status == "pending" or now - payment.updated_at < self.recent_seconds:
            return True
        return payment.status == "expired" and now - payment.created_at < (
            self.open_payment_seconds
        )

    def subscription_is_live(self, subscription: Subscription, now: float) -> bool:
        return now - subscription.end < self.subscription_seconds

    def unmatched_is_live(self, item: UnmatchedMoney, now: float) -> bool:
        """Open, or settled within the time any poll may still see its money again (the
        YooMoney poller reads back over open_payment_seconds): a settled record must stay
        in memory as long as the same operation can arrive again, or it would come back."""
        if item.resolved_at is None:
            return True
        return now - item.resolved_at < max(self.recent_seconds, self.open_payment_seconds + DAY)

    def outbox_is_live(self, item: OutboxItem, now: float) -> bool:
        """Not done yet, or done recently."""
        return item.done_at is None or now - item.done_at < self.recent_seconds

    def stars_subscription_is_live(self, item: StarsSubscription, now: float) -> bool:
        """A link not paid yet, or a subscription until a while after its last period."""
        last = max(item.updated_at, item.expires_at or 0.0)
        return now - last < self.subscription_seconds


@dataclass(slots=True)
class Transaction:
    """Money records to write together: all of them or none."""

    payments: list[Payment] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    promo_codes: list[PromoCode] = field(default_factory=list)
    deleted_promo_codes: list[str] = field(default_factory=list)
    promo_activations: list[PromoActivation] = field(default_factory=list)
    unmatched: list[UnmatchedMoney] = field(default_factory=list)
    stars_subscriptions: list[StarsSubscription] = field(default_factory=list)
    referral_codes: list[ReferralCode] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.payments,
                self.subscriptions,
                self.promo_codes,
                self.deleted_promo_codes,
                self.promo_activations,
                self.unmatched,
                self.stars_subscriptions,
                self.referral_codes,
                self.referrals,
                self.outbox,
            )
        )


@dataclass(slots=True)
class MoneyState:
    """The live money records, as loaded at start-up."""

    payments: list[Payment]
    subscriptions: list[Subscription]
    promo_codes: list[PromoCode]
    promo_activations: list[PromoActivation]
    unmatched: list[UnmatchedMoney]
    stars_subscriptions: list[StarsSubscription] = field(default_factory=list)
    referral_codes: list[ReferralCode] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)


Document = dict[str, Any]  # statistics and state: plain JSON values


class DeliveryLog(ABC):
    """A broadcast's delivery journal, appended as it goes: a user is marked tried before
    the send, then with its outcome; a user tried without an outcome (a crash mid-send)
    is never sent to again."""

    @abstractmethod
    async def tried(self, user_id: int) -> bool:
        """Mark the user tried; False if they already were (by another process of a
        shared store, or before a crash): then nobody sends to them again."""

    @abstractmethod
    async def done(self, user_id: int, outcome: DeliveryOutcome) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...


class Storage(ABC):
    """Persistence for users, conversations, money records, statistics and broadcasts.

    Every write returns only when the change is durable, so whatever the bot confirms
    to a user afterwards survives a crash.

    A `shared` store (a database) is used by several processes at once: each keeps the
    live money records in memory and makes its money decisions inside
    `money_decision()`, which holds every process's decisions one at a time; within it,
    `money_changes()` brings the others' commits into memory first, so a decision reads
    current records. A commit of a record changed meanwhile (a decision made outside)
    raises ConflictError(MoneyRule.STALE); a record read by `find_payment` counts as seen.
    """

    shared: bool = False

    @abstractmethod
    async def open(self) -> None:
        """Prepare the backing store; raises StorageDamagedError for damaged money data."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release resources."""

    # Users -----------------------------------------------------------------
    @abstractmethod
    async def get_user(self, user_id: int) -> UserRecord | None: ...

    @abstractmethod
    async def save_user(self, user: UserRecord) -> None: ...

    @abstractmethod
    async def count_users(self) -> int: ...

    @abstractmethod
    def iter_users(self) -> AsyncIterator[UserRecord]:
        """Every user, streamed (admin use)."""

    @abstractmethod
    async def find_user_by_username(self, username: str) -> UserRecord | None:
        """The user with this @username (without the @, case-insensitive), if any."""

    @abstractmethod
    async def unblocked_user_ids(self) -> list[int]:
        """Every user who has not blocked the bot, by id, ascending (broadcasts)."""

    # Conversations (an owner is a user, or a group chat) ------------------------
    @abstractmethod
    async def load_conversations(self, owner: int) -> Conversations | None:
        """The owner's conversations; None if they never had any."""

    @abstractmethod
    async def save_conversations(self, owner: int, conversations: Conversations) -> None: ...

    @abstractmethod
    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]: ...

    @abstractmethod
    async def save_history(
        self, owner: int, conversation_id: str, turns: list[ChatTurn]
    ) -> None: ...

    @abstractmethod
    async def delete_history(self, owner: int, conversation_id: str) -> None:
        """Remove one conversation's memory for good (its images too)."""

    @abstractmethod
    async def save_image(
        self, owner: int, conversation_id: str, data: bytes, mime_type: str
    ) -> str:
        """Keep a picture the user sent in a conversation; returns its id (a blob a
        database keeps in a table, with the conversation's key)."""

    @abstractmethod
    async def load_image(
        self, owner: int, conversation_id: str, image_id: str
    ) -> tuple[bytes, str] | None:
        """(bytes, MIME type) of a kept picture; None if it is gone."""

    @abstractmethod
    async def forget(self, owner: int) -> None:
        """Remove every conversation of the owner and its memory, for good."""

    # Money ----------------------------------------------------------------------
    @abstractmethod
    async def load_money(self) -> MoneyState:
        """The live records (see Retention): what the services keep in memory."""

    @abstractmethod
    async def commit(self, transaction: Transaction) -> None:
        """Write the records together, durably, all or nothing; ConflictError (nothing
        written) if they would break a money rule."""

    @contextlib.asynccontextmanager
    async def money_decision(self) -> AsyncIterator[None]:
        """Hold the money decisions of every process sharing this store, one at a time
        (a database: an advisory lock). A store one process owns holds nothing: the
        services' claims before their first await keep its decisions apart."""
        yield

    async def money_changes(self) -> list[Transaction]:
        """What other processes committed since this one loaded its money or last asked,
        oldest first: the records to take into memory. A store one process owns (`shared`
        false) has none."""
        return []

    @abstractmethod
    async def find_payment(self, payment_id: str) -> Payment | None:
        """Any payment, live or history."""

    @abstractmethod
    def iter_payments(self, created_since: float = 0.0) -> AsyncIterator[Payment]:
        """Every payment created at or after `created_since`, each once in its latest
        state, streamed (reports, CSV)."""

    @abstractmethod
    async def maintain(self) -> None:
        """Periodic housekeeping (for JSON files: compaction and archiving)."""

    # Statistics: a document per day ("2026-12-14") and per month ("month-2026-12") ----
    @abstractmethod
    async def load_stats(self, name: str) -> Document | None:
        """None when there is none; DamagedRecordError when it could not be read (it is
        then set aside: the next read finds none)."""

    @abstractmethod
    def load_stats_now(self, name: str) -> Document | None:
        """`load_stats` without waiting, for the day counting comes to (rare: a new day,
        a clock step); OSError when it cannot be read just now."""

    async def update_stats(
        self, name: str, change: Callable[[Document | None], Document]
    ) -> Document:
        """Change a statistics document as one step against other processes' changes
        (a database: under a row lock), and return what was stored. `change` gets the
        stored document (None if there is none) and must not await."""
        document = change(await self.load_stats(name))
        await self.save_stats(name, document)
        return document

    @abstractmethod
    async def save_stats(self, name: str, document: Document) -> None:
        """Durable on return. Not money: a crash may lose the last counts, never a day.
        The document must not change afterwards (it may be written from a thread)."""

    # Broadcasts ---------------------------------------------------------------------------
    @abstractmethod
    async def save_broadcast(self, broadcast: Broadcast) -> None:
        """The header as it is now (its counters may lag behind its delivery log)."""

    @abstractmethod
    async def load_broadcast(self, broadcast_id: str) -> Broadcast | None: ...

    @abstractmethod
    async def load_broadcasts(self) -> list[Broadcast]:
        """Every broadcast's header."""

    @abstractmethod
    async def read_deliveries(self, broadcast_id: str) -> tuple[set[int], dict[int, str]]:
        """(users tried, outcome by user) of the broadcast's delivery log so far."""

    @abstractmethod
    async def open_deliveries(self, broadcast_id: str) -> DeliveryLog:
        """The broadcast's delivery log, to append to (a new one, or the one resumed)."""

    # State markers (small documents by name: what the model check last saw) ------------
    @abstractmethod
    async def load_state(self, name: str) -> Document | None:
        """None when there is none; DamagedRecordError when it cannot be read."""

    @abstractmethod
    async def save_state(self, name: str, document: Document) -> None: ...
