"""Storage in this process's memory: the unit tests' store (no disk, no fsync), and the
proof that the services need nothing of the JSON files behind the interface.

It keeps everything, as a database would: a "restart" is new services loading from the
same object. The money rules are checked at commit with the same index as the JSON
store's (`MoneyRules`); records come out as copies where a caller could change them.

`another_process()` plays a database shared by several processes: a view on the same
data with its own cursor in the money log and its own idea of which version of each
record it has seen (`shared`, `money_decision`, `money_changes`, STALE).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from typing import Generic, TypeVar

import orjson

from services.models import (
    Broadcast,
    ChatTurn,
    Conversations,
    DeliveryOutcome,
    OutboxItem,
    Payment,
    PromoActivation,
    PromoCode,
    Referral,
    ReferralCode,
    StarsSubscription,
    Subscription,
    UnmatchedMoney,
    UserRecord,
)
from services.storage.base import (
    ConflictError,
    DeliveryLog,
    Document,
    MoneyRule,
    MoneyState,
    Retention,
    Storage,
    Transaction,
)
from services.storage.images import new_image_id
from services.storage.rules import MoneyRules

R = TypeVar("R")


class _Table(Generic[R]):
    """One money table: records by key, as they were committed."""

    def __init__(self, key: Callable[[R], Hashable], copy: bool = False) -> None:
        self._key = key
        self._copy = copy  # a record type callers may change in place (Payment, PromoCode)
        self.rows: dict[Hashable, R] = {}

    def put(self, records: list[R]) -> None:
        for record in records:
            self.rows[self._key(record)] = self.out(record)

    def out(self, record: R) -> R:
        return dataclasses.replace(record) if self._copy else record  # type: ignore[type-var]

    def live(self, is_live: Callable[[R], bool] | None = None) -> list[R]:
        return [self.out(row) for row in self.rows.values() if is_live is None or is_live(row)]


class MemoryStorage(Storage):
    def __init__(self, retention: Retention) -> None:
        self.retention = retention
        self._users: dict[int, UserRecord] = {}
        self._conversations: dict[int, Conversations] = {}
        self._history: dict[tuple[int, str], tuple[ChatTurn, ...]] = {}
        self._images: dict[tuple[int, str], dict[str, tuple[bytes, str]]] = {}
        self._payments = _Table[Payment](lambda p: p.id, copy=True)
        self._subscriptions = _Table[Subscription](lambda s: (s.user_id, s.plan_id))
        self._promo_codes = _Table[PromoCode](lambda p: p.code, copy=True)
        self._activations = _Table[PromoActivation](lambda a: (a.code, a.user_id))
        self._unmatched = _Table[UnmatchedMoney](lambda u: u.id)
        self._stars = _Table[StarsSubscription](lambda s: s.id)
        self._referral_codes = _Table[ReferralCode](lambda c: c.user_id)
        self._referrals = _Table[Referral](lambda r: r.user_id)
        self._outbox = _Table[OutboxItem](lambda o: o.id)
        self._rules = MoneyRules(retention)
        self._stats: dict[str, bytes] = {}  # documents kept as JSON: nobody shares them
        self._state: dict[str, bytes] = {}
        self._broadcasts: dict[str, Broadcast] = {}
        self._deliveries: dict[str, MemoryDeliveryLog] = {}
        # Shared by the views of `another_process()`:
        self._log: list[tuple[int, Transaction]] = []  # (the committing view, the records)
        self._versions: dict[Hashable, int] = {}  # record -> the log position it came at
        self._decisions = asyncio.Lock()
        # This view's own:
        self._view = 0
        self._cursor = 0
        self._seen: dict[Hashable, int] = {}

    _views = itertools.count(1)

    def another_process(self) -> MemoryStorage:
        """A second process's view of the same data; both views are `shared` from now."""
        self.shared = True
        view = copy.copy(self)
        view._view, view._cursor, view._seen = next(self._views), len(self._log), {}
        return view

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    # Users -----------------------------------------------------------------------------
    async def get_user(self, user_id: int) -> UserRecord | None:
        user = self._users.get(user_id)
        return dataclasses.replace(user) if user is not None else None

    async def save_user(self, user: UserRecord) -> None:
        self._users[user.id] = dataclasses.replace(user)

    async def count_users(self) -> int:
        return len(self._users)

    async def iter_users(self) -> AsyncIterator[UserRecord]:
        for user in list(self._users.values()):
            yield dataclasses.replace(user)

    async def find_user_by_username(self, username: str) -> UserRecord | None:
        name = username.lower()
        found = (u for u in self._users.values() if (u.username or "").lower() == name)
        user = next(found, None)
        return dataclasses.replace(user) if user is not None else None

    async def unblocked_user_ids(self) -> list[int]:
        return sorted(user.id for user in self._users.values() if not user.blocked)

    # Conversations -----------------------------------------------------------------------
    async def load_conversations(self, owner: int) -> Conversations | None:
        return self._conversations.get(owner)

    async def save_conversations(self, owner: int, conversations: Conversations) -> None:
        self._conversations[owner] = conversations

    async def load_history(self, owner: int, conversation_id: str) -> list[ChatTurn]:
        return list(self._history.get((owner, conversation_id), ()))

    async def save_history(self, owner: int, conversation_id: str, turns: list[ChatTurn]) -> None:
        self._history[(owner, conversation_id)] = tuple(turns)

    async def delete_history(self, owner: int, conversation_id: str) -> None:
        self._history.pop((owner, conversation_id), None)
        self._images.pop((owner, conversation_id), None)

    async def save_image(
        self, owner: int, conversation_id: str, data: bytes, mime_type: str
    ) -> str:
        image_id = new_image_id(mime_type)
        self._images.setdefault((owner, conversation_id), {})[image_id] = (data, mime_type)
        return image_id

    async def load_image(
        self, owner: int, conversation_id: str, image_id: str
    ) -> tuple[bytes, str] | None:
        return self._images.get((owner, conversation_id), {}).get(image_id)

    async def forget(self, owner: int) -> None:
        self._conversations.pop(owner, None)
        for key in [key for key in self._history if key[0] == owner]:
            del self._history[key]
        for key in [key for key in self._images if key[0] == owner]:
            del self._images[key]

    # Money -------------------------------------------------------------------------------
    async def load_money(self) -> MoneyState:
        now, keep = time.time(), self.retention
        self._cursor = len(self._log)
        self._seen = dict(self._versions)
        return MoneyState(
            payments=self._payments.live(lambda p: keep.payment_is_live(p, now)),
            subscriptions=self._subscriptions.live(lambda s: keep.subscription_is_live(s, now)),
            promo_codes=self._promo_codes.live(),
            promo_activations=self._activations.live(),
            unmatched=self._unmatched.live(lambda u: keep.unmatched_is_live(u, now)),
            stars_subscriptions=self._stars.live(lambda s: keep.stars_subscription_is_live(s, now)),
            referral_codes=self._referral_codes.live(),
            referrals=self._referrals.live(),
            outbox=self._outbox.live(lambda o: keep.outbox_is_live(o, now)),
        )

    @contextlib.asynccontextmanager
    async def money_decision(self) -> AsyncIterator[None]:
        if not self.shared:
            yield
            return
        async with self._decisions:
            yield

    async def money_changes(self) -> list[Transaction]:
        if not self.shared:
            return []
        changes = []
        for position in range(self._cursor, len(self._log)):
            view, transaction = self._log[position]
            if view != self._view:
                changes.append(transaction)
                for key in _record_keys(transaction):
                    self._seen[key] = position
        self._cursor = len(self._log)
        return changes

    async def commit(self, transaction: Transaction) -> None:
        if not transaction:
            return
        keys = list(_record_keys(transaction))
        if self.shared:
            for key in keys:
                version = self._versions.get(key)
                if version is not None and self._seen.get(key) != version:
                    raise ConflictError(MoneyRule.STALE, str(key))
        self._rules.claim(transaction)  # ConflictError: nothing stored
        position = len(self._log)
        self._log.append((self._view, transaction))
        for key in keys:
            self._versions[key] = self._seen[key] = position
        self._payments.put(transaction.payments)
        self._subscriptions.put(transaction.subscriptions)
        self._promo_codes.put(transaction.promo_codes)
        for code in transaction.deleted_promo_codes:
            self._promo_codes.rows.pop(code, None)
        self._activations.put(transaction.promo_activations)
        self._unmatched.put(transaction.unmatched)
        self._stars.put(transaction.stars_subscriptions)
        self._referral_codes.put(transaction.referral_codes)
        self._referrals.put(transaction.referrals)
        self._outbox.put(transaction.outbox)

    async def find_payment(self, payment_id: str) -> Payment | None:
        payment = self._payments.rows.get(payment_id)
        if payment is None:
            return None
        key = ("payment", payment_id)
        if key in self._versions:
            self._seen[key] = self._versions[key]
        return self._payments.out(payment)

    async def iter_payments(self, created_since: float = 0.0) -> AsyncIterator[Payment]:
        payments = self._payments.live(lambda p: p.created_at >= created_since)
        for payment in sorted(payments, key=lambda p: p.created_at):
            yield payment

    async def maintain(self) -> None:
        """Nothing to fold or archive; the rules' index forgets what left the live set."""
        self._rules.prune(self.retention, time.time())

    # Statistics, broadcasts, state -----------------------------------------------------
    async def load_stats(self, name: str) -> Document | None:
        return self.load_stats_now(name)

    def load_stats_now(self, name: str) -> Document | None:
        document = self._stats.get(name)
        return orjson.loads(document) if document is not None else None

    async def save_stats(self, name: str, document: Document) -> None:
        self._stats[name] = orjson.dumps(document)

    async def save_broadcast(self, broadcast: Broadcast) -> None:
        self._broadcasts[broadcast.id] = dataclasses.replace(broadcast)

    async def load_broadcast(self, broadcast_id: str) -> Broadcast | None:
        broadcast = self._broadcasts.get(broadcast_id)
        return dataclasses.replace(broadcast) if broadcast is not None else None

    async def load_broadcasts(self) -> list[Broadcast]:
        return [dataclasses.replace(broadcast) for broadcast in self._broadcasts.values()]

    async def read_deliveries(self, broadcast_id: str) -> tuple[set[int], dict[int, str]]:
        log = self._deliveries.get(broadcast_id)
        return (set(log.tried_users), dict(log.outcomes)) if log is not None else (set(), {})

    async def open_deliveries(self, broadcast_id: str) -> DeliveryLog:
        return self._deliveries.setdefault(broadcast_id, MemoryDeliveryLog())

    async def load_state(self, name: str) -> Document | None:
        document = self._state.get(name)
        return orjson.loads(document) if document is not None else None

    async def save_state(self, name: str, document: Document) -> None:
        self._state[name] = orjson.dumps(document)


def _record_keys(transaction: Transaction) -> Iterator[Hashable]:
    """Each money record of the transaction by its kind and key (what STALE compares)."""
    t = transaction
    yield from (("payment", p.id) for p in t.payments)
    yield from (("subscription", s.user_id, s.plan_id) for s in t.subscriptions)
    yield from (("promo", p.code) for p in t.promo_codes)
    yield from (("promo", code) for code in t.deleted_promo_codes)
    yield from (("activation", a.code, a.user_id) for a in t.promo_activations)
    yield from (("unmatched", u.id) for u in t.unmatched)
    yield from (("stars", s.id) for s in t.stars_subscriptions)
    yield from (("referral_code", c.user_id) for c in t.referral_codes)
    yield from (("referral", r.user_id) for r in t.referrals)
    yield from (("outbox", o.id) for o in t.outbox)


class MemoryDeliveryLog(DeliveryLog):
    def __init__(self) -> None:
        self.tried_users: set[int] = set()
        self.outcomes: dict[int, str] = {}

    async def tried(self, user_id: int) -> bool:
        if user_id in self.tried_users:
            return False
        self.tried_users.add(user_id)
        return True

    async def done(self, user_id: int, outcome: DeliveryOutcome) -> None:
        self.outcomes[user_id] = outcome

    async def close(self) -> None:
        pass
