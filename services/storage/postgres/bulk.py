"""Rows copied in bulk (the JSON import): a batch is COPYed into a temporary table and
merged in one statement, inserting what is new and updating only what differs, so a
second run over the same data writes nothing. Money rows come in with seq 0 (before any
commit of the money log); the derived tables (money events, Stars charges, promo uses,
the open invoices' places) are rebuilt from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.models import (
    Broadcast,
    ChatTurn,
    Conversations,
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
from services.storage.postgres.connection import Conn
from services.storage.postgres.money_rules import stars_live_at
from services.storage.postgres.people import turn_record
from services.storage.rules import money_events

Row = tuple[Any, ...]


@dataclass(slots=True)
class Counts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.new + self.changed + self.unchanged

    def add(self, other: Counts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged


@dataclass(frozen=True, slots=True)
class BulkTable:
    name: str
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    compared: tuple[str, ...]  # a row whose values here are equal is left as it is

    async def merge(self, conn: Conn, rows: list[Row]) -> Counts:
        if not rows:
            return Counts()
        temp = f"bulk_{self.name}"
        columns = ", ".join(self.columns)
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT {columns} FROM {self.name} LIMIT 0"
        )
        await conn.execute(f"TRUNCATE {temp}")
        await conn.copy_records_to_table(temp, records=rows, columns=list(self.columns))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in self.columns if c not in self.keys)
        old = ", ".join(f"t.{c}" for c in self.compared)
        new = ", ".join(f"EXCLUDED.{c}" for c in self.compared)
        merged = await conn.fetchrow(
            f"WITH w AS (INSERT INTO {self.name} AS t ({columns}) SELECT {columns} FROM {temp}"
            f" ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {updates}"
            f" WHERE ({old}, 0) IS DISTINCT FROM ({new}, 0) RETURNING (xmax = 0) AS inserted)"
            " SELECT count(*) FILTER (WHERE inserted) AS new,"
            " count(*) FILTER (WHERE NOT inserted) AS changed FROM w"
        )
        assert merged is not None
        new_rows, changed = int(merged["new"]), int(merged["changed"])
        return Counts(new_rows, changed, len(rows) - new_rows - changed)


def _table(name: str, columns: str, keys: str, compared: str) -> BulkTable:
    return BulkTable(name, tuple(columns.split()), tuple(keys.split()), tuple(compared.split()))


USERS = _table("users", "id username_lower blocked record", "id", "record")
CONVERSATIONS = _table("conversations", "owner record", "owner", "record")
HISTORY = _table("history", "owner conversation_id turns", "owner conversation_id", "turns")
IMAGES = _table(
    "images",
    "owner conversation_id image_id mime_type data",
    "owner conversation_id image_id",
    "mime_type data",
)
PAYMENTS = _table(
    "payments",
    "id user_id plan_id method status created_at updated_at seq record",
    "id",
    "record",
)
PAYMENT_EVENTS = _table("payment_events", "event payment_id", "event", "payment_id")
SUBSCRIPTIONS = _table(
    "subscriptions", "user_id plan_id end_at seq record", "user_id plan_id", "record"
)
PROMO_CODES = _table("promo_codes", "code max_uses seq record", "code", "record")
PROMO_ACTIVATIONS = _table("promo_activations", "code user_id at seq", "code user_id", "at")
UNMATCHED = _table("unmatched_money", "id resolved_at seq record", "id", "record")
STARS_SUBSCRIPTIONS = _table("stars_subscriptions", "id live_at seq record", "id", "record")
STARS_CHARGES = _table("stars_charges", "charge_id subscription_id", "charge_id", "subscription_id")
REFERRAL_CODES = _table(
    "referral_codes", "user_id code created_at seq", "user_id", "code created_at"
)
REFERRALS = _table(
    "referrals", "user_id inviter_id payment_id reward_plan seq record", "user_id", "record"
)
OUTBOX = _table("outbox", "id done_at seq record", "id", "record")
STATS = _table("stats_documents", "name document", "name", "document")
STATE = _table("state_documents", "name document", "name", "document")
BROADCASTS = _table("broadcasts", "id record", "id", "record")
DELIVERIES = _table(
    "broadcast_deliveries", "broadcast_id user_id outcome", "broadcast_id user_id", "outcome"
)


# Records -> rows (the columns above, in order) ---------------------------------------------
def user_row(user: UserRecord) -> Row:
    return (user.id, user.username.lower() if user.username else None, user.blocked, user)


def conversations_row(owner: int, conversations: Conversations) -> Row:
    return (owner, conversations)


def history_row(owner: int, conversation_id: str, turns: Iterable[ChatTurn]) -> Row:
    return (owner, conversation_id, [turn_record(turn) for turn in turns])


def payment_rows(payment: Payment) -> tuple[Row, list[Row]]:
    """The payment's row and its money events' rows."""
    row = (
        payment.id,
        payment.user_id,
        payment.plan_id,
        payment.method,
        payment.status,
        payment.created_at,
        payment.updated_at,
        0,
        payment,
    )
    return row, [(event, payment.id) for event in dict.fromkeys(money_events(payment))]


def subscription_row(subscription: Subscription) -> Row:
    return (subscription.user_id, subscription.plan_id, subscription.end, 0, subscription)


def promo_row(promo: PromoCode) -> Row:
    return (promo.code, promo.max_uses, 0, promo)


def activation_row(activation: PromoActivation) -> Row:
    return (activation.code, activation.user_id, activation.at, 0)


def unmatched_row(item: UnmatchedMoney) -> Row:
    return (item.id, item.resolved_at, 0, item)


def stars_rows(record: StarsSubscription) -> tuple[Row, list[Row]]:
    charges = [(charge, record.id) for charge in dict.fromkeys(record.charges)]
    return (record.id, stars_live_at(record), 0, record), charges


def referral_code_row(code: ReferralCode) -> Row:
    return (code.user_id, code.code, code.created_at, 0)


def referral_row(referral: Referral) -> Row:
    args = (referral.user_id, referral.inviter_id, referral.payment_id, referral.reward_plan)
    return (*args, 0, referral)


def outbox_row(item: OutboxItem) -> Row:
    return (item.id, item.done_at, 0, item)


def broadcast_row(broadcast: Broadcast) -> Row:
    return (broadcast.id, broadcast)


# Derived after the copy ---------------------------------------------------------------------
_RECOUNT_PROMO_USES = """
WITH counted AS (SELECT code, count(*)::integer AS uses FROM promo_activations GROUP BY code)
INSERT INTO promo_uses (code, uses) SELECT code, uses FROM counted
ON CONFLICT (code) DO UPDATE SET uses = EXCLUDED.uses WHERE promo_uses.uses <> EXCLUDED.uses
"""
# Each user, plan and method's newest pending invoice holds its place (as the JSON rules'
# index has it after a load): first free the others, then take the places.
_NEWEST_PENDING = """
SELECT DISTINCT ON (user_id, plan_id, method) id FROM payments WHERE status = 'pending'
ORDER BY user_id, plan_id, method, created_at DESC, id DESC
"""
_FREE_PLACES = f"""
UPDATE payments SET open_slot = false
WHERE open_slot AND id NOT IN ({_NEWEST_PENDING})
"""
_TAKE_PLACES = f"""
UPDATE payments SET open_slot = true WHERE NOT open_slot AND id IN ({_NEWEST_PENDING})
"""


async def rebuild_derived(conn: Conn) -> None:
    """Promo uses from the activations, and the open invoices' places."""
    async with conn.transaction():
        await conn.execute(_RECOUNT_PROMO_USES)
        await conn.execute(_FREE_PLACES)
        await conn.execute(_TAKE_PLACES)
