"""Money records in PostgreSQL: commits (one database transaction each, through the
rules of money_rules.py), the live set, history, and what other processes committed.

Commits are serialised per schema by an advisory transaction lock, so the money log's
`seq` grows in commit order: a reader that has seen seq N has seen every commit before
it. A store instance keeps a cursor (the last seq it has taken in) and the seqs of its
own commits; a commit that writes a record whose row another process wrote after that
cursor raises ConflictError(MoneyRule.STALE), until `changes()` has brought it in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from services.models import Payment, PromoActivation, ReferralCode
from services.storage import records
from services.storage.base import (
    ConflictError,
    MoneyRule,
    MoneyState,
    Retention,
    Transaction,
)
from services.storage.postgres import money_rules
from services.storage.postgres.connection import Conn, Database
from services.storage.records import Record, Table

MONEY_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':money'))"
LOG_KEEP_SECONDS = 7 * 86_400.0  # money_changes() readers are never this far behind
BATCH = 2000

# Transaction's lists, by the table (records.py) they go to.
FIELDS: tuple[tuple[str, Table], ...] = (
    ("payments", records.PAYMENTS),
    ("subscriptions", records.SUBSCRIPTIONS),
    ("promo_codes", records.PROMO_CODES),
    ("promo_activations", records.PROMO_ACTIVATIONS),
    ("unmatched", records.UNMATCHED),
    ("stars_subscriptions", records.STARS_SUBSCRIPTIONS),
    ("referral_codes", records.REFERRAL_CODES),
    ("referrals", records.REFERRALS),
    ("outbox", records.OUTBOX),
)


def _text_keys(values: list[Any]) -> tuple[Any, ...]:
    return ([str(value) for value in values],)


# The version (seq) of rows by key, keyed as records.py keys them: (SQL, key columns).
_VERSIONS: dict[str, tuple[str, Callable[[list[str]], tuple[Any, ...]]]] = {
    "payments": ("SELECT id AS key, seq FROM payments WHERE id = ANY($1::text[])", _text_keys),
    "subscriptions": (
        "SELECT user_id::text || ':' || plan_id AS key, seq FROM subscriptions"
        " WHERE (user_id, plan_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))",
        lambda keys: (
            [int(k.partition(":")[0]) for k in keys],
            [k.partition(":")[2] for k in keys],
        ),
    ),
    "promo_codes": (
        "SELECT code AS key, seq FROM promo_codes WHERE code = ANY($1::text[])",
        _text_keys,
    ),
    "promo_activations": (
        "SELECT code || ':' || user_id::text AS key, seq FROM promo_activations"
        " WHERE (code, user_id) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))",
        lambda keys: (
            [k.rpartition(":")[0] for k in keys],
            [int(k.rpartition(":")[2]) for k in keys],
        ),
    ),
    "unmatched_money": (
        "SELECT id AS key, seq FROM unmatched_money WHERE id = ANY($1::text[])",
        _text_keys,
    ),
    "stars_subscriptions": (
        "SELECT id AS key, seq FROM stars_subscriptions WHERE id = ANY($1::text[])",
        _text_keys,
    ),
    "referral_codes": (
        "SELECT user_id::text AS key, seq FROM referral_codes WHERE user_id = ANY($1::bigint[])",
        lambda keys: ([int(k) for k in keys],),
    ),
    "referrals": (
        "SELECT user_id::text AS key, seq FROM referrals WHERE user_id = ANY($1::bigint[])",
        lambda keys: ([int(k) for k in keys],),
    ),
    "outbox": ("SELECT id AS key, seq FROM outbox WHERE id = ANY($1::text[])", _text_keys),
}

_LIVE_PAYMENTS = """
SELECT record FROM payments
WHERE status = 'pending' OR updated_at > $1 OR (status = 'expired' AND created_at > $2)
"""


def log_body(transaction: Transaction) -> dict[str, Any]:
    """The transaction as the money log keeps it (the JSON journal's line format)."""
    put = {table.name: rows for name, table in FIELDS if (rows := getattr(transaction, name))}
    body: dict[str, Any] = {"put": put}
    if transaction.deleted_promo_codes:
        body["del"] = {records.PROMO_CODES.name: transaction.deleted_promo_codes}
    return body


def transaction_from_log(body: dict[str, Any]) -> Transaction:
    put: dict[str, list[Record]] = body.get("put", {})
    transaction = Transaction(
        deleted_promo_codes=list(body.get("del", {}).get(records.PROMO_CODES.name, []))
    )
    for name, table in FIELDS:
        setattr(transaction, name, [table.load(raw) for raw in put.get(table.name, [])])
    return transaction


def written_keys(transaction: Transaction) -> dict[str, list[str]]:
    """Table -> the keys of the records the transaction writes (deleted codes too)."""
    keys: dict[str, list[str]] = {}
    for name, table in FIELDS:
        rows: list[Any] = getattr(transaction, name)
        if rows:
            keys[table.name] = [_key(table, row) for row in rows]
    if transaction.deleted_promo_codes:
        keys.setdefault(records.PROMO_CODES.name, []).extend(transaction.deleted_promo_codes)
    return keys


def _key(table: Table, record: Any) -> str:
    if table is records.SUBSCRIPTIONS:
        return f"{record.user_id}:{record.plan_id}"
    if table is records.PROMO_ACTIVATIONS:
        return f"{record.code}:{record.user_id}"
    if table is records.PROMO_CODES:
        return str(record.code)
    if table in (records.REFERRAL_CODES, records.REFERRALS):
        return str(record.user_id)
    return str(record.id)


class MoneyTables:
    def __init__(self, db: Database, retention: Retention) -> None:
        self._db = db
        self.retention = retention
        self.origin = uuid.uuid4()  # this store instance, in the money log
        self.cursor = 0  # the last money_log seq taken in (loaded, or from changes())
        self._own: set[int] = set()  # seqs of this instance's commits after the cursor
        self._seen: dict[tuple[str, str], int] = {}  # history rows read after the cursor

    # Reading ------------------------------------------------------------------------------
    async def load(self) -> MoneyState:
        state, cursor = await self._db.run("loading money", self._load)
        self._advance(cursor)
        return state

    async def _load(self, conn: Conn) -> tuple[MoneyState, int]:
        now, keep = time.time(), self.retention

        async def rows(query: str, *args: object) -> AsyncIterator[Any]:
            async for row in conn.cursor(query, *args, prefetch=BATCH):
                yield row

        async def recorded(query: str, load: Callable[[Record], Any], *args: object) -> list[Any]:
            return [load(row["record"]) async for row in rows(query, *args)]

        unmatched_since = now - max(keep.recent_seconds, keep.open_payment_seconds + 86_400.0)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM money_log"))
            state = MoneyState(
                payments=await recorded(
                    _LIVE_PAYMENTS,
                    records.payment_from_json,
                    now - keep.recent_seconds,
                    now - keep.open_payment_seconds,
                ),
                subscriptions=await recorded(
                    "SELECT record FROM subscriptions WHERE end_at > $1",
                    records.subscription_from_json,
                    now - keep.subscription_seconds,
                ),
                promo_codes=await recorded(
                    "SELECT record FROM promo_codes", records.promo_from_json
                ),
                promo_activations=[
                    PromoActivation(row["code"], row["user_id"], row["at"])
                    async for row in rows("SELECT code, user_id, at FROM promo_activations")
                ],
                unmatched=await recorded(
                    "SELECT record FROM unmatched_money"
                    " WHERE resolved_at IS NULL OR resolved_at > $1",
                    records.unmatched_from_json,
                    unmatched_since,
                ),
                stars_subscriptions=await recorded(
                    "SELECT record FROM stars_subscriptions WHERE live_at > $1",
                    records.stars_subscription_from_json,
                    now - keep.subscription_seconds,
                ),
                referral_codes=[
                    ReferralCode(row["user_id"], row["code"], row["created_at"])
                    async for row in rows("SELECT user_id, code, created_at FROM referral_codes")
                ],
                referrals=await recorded(
                    "SELECT record FROM referrals", records.referral_from_json
                ),
                outbox=await recorded(
                    "SELECT record FROM outbox WHERE done_at IS NULL OR done_at > $1",
                    records.outbox_from_json,
                    now - keep.recent_seconds,
                ),
            )
        return state, cursor

    async def find_payment(self, payment_id: str) -> Payment | None:
        row = await self._db.run(
            "reading a payment",
            lambda conn: conn.fetchrow(
                "SELECT seq, record FROM payments WHERE id = $1", payment_id
            ),
        )
        if row is None:
            return None
        if row["seq"] > self.cursor:  # newer than the cursor: this version is seen now
            self._seen[(records.PAYMENTS.name, payment_id)] = row["seq"]
        return records.payment_from_json(row["record"])

    async def iter_payments(self, created_since: float) -> AsyncIterator[Payment]:
        """Keyset batches, oldest first: no connection is held between them."""
        first = (
            "SELECT created_at, id, record FROM payments WHERE created_at >= $1"
            " ORDER BY created_at, id LIMIT $2"
        )
        after = (
            "SELECT created_at, id, record FROM payments WHERE (created_at, id) > ($1, $2)"
            " ORDER BY created_at, id LIMIT $3"
        )
        batch = await self._db.fetch("reading payments", first, created_since, BATCH)
        while batch:
            for row in batch:
                yield records.payment_from_json(row["record"])
            if len(batch) < BATCH:
                return
            last_at, last_id = batch[-1]["created_at"], batch[-1]["id"]
            batch = await self._db.fetch("reading payments", after, last_at, last_id, BATCH)

    async def changes(self) -> list[Transaction]:
        """Other instances' commits after the cursor, oldest first; the cursor moves past
        them and past this instance's own."""
        found: list[Transaction] = []
        while True:
            rows = await self._db.fetch(
                "reading money changes",
                "SELECT seq, origin, body FROM money_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                self.cursor,
                BATCH,
            )
            found += [transaction_from_log(r["body"]) for r in rows if r["origin"] != self.origin]
            if rows:
                self._advance(rows[-1]["seq"])
            if len(rows) < BATCH:
                return found

    def _advance(self, seq: int) -> None:
        if seq <= self.cursor:
            return
        self.cursor = seq
        self._own = {own for own in self._own if own > seq}
        self._seen = {key: at for key, at in self._seen.items() if at > seq}

    # Writing ------------------------------------------------------------------------------
    async def commit(self, transaction: Transaction) -> None:
        if not transaction:
            return
        txid = uuid.uuid4()  # the same on every try: a try that landed is recognised
        body = log_body(transaction)

        async def attempt(conn: Conn) -> tuple[int, bool]:
            return await self._commit_once(conn, transaction, txid, body)

        seq, alone = await self._db.run("committing money", attempt)
        if alone:  # nobody else committed since the cursor: it moves past this commit
            self._advance(seq)

    async def _commit_once(
        self, conn: Conn, transaction: Transaction, txid: uuid.UUID, body: dict[str, Any]
    ) -> tuple[int, bool]:
        async with conn.transaction():
            await conn.execute(MONEY_LOCK)
            landed = await conn.fetchval("SELECT seq FROM money_log WHERE txid = $1", txid)
            if landed is not None:  # an earlier try committed before its connection died
                self._own.add(landed)
                return int(landed), False
            cursor = self.cursor
            others = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM money_log WHERE seq > $1 AND origin <> $2)",
                cursor,
                self.origin,
            )
            seq = int(
                await conn.fetchval(
                    "INSERT INTO money_log (txid, origin, at, body) VALUES ($1, $2, $3, $4)"
                    " RETURNING seq",
                    txid,
                    self.origin,
                    time.time(),
                    body,
                )
            )
            self._own.add(seq)
            if others:
                await self._check_versions(conn, transaction, cursor)
            await money_rules.write(conn, transaction, seq, self.retention)
        return seq, not others

    async def _check_versions(self, conn: Conn, transaction: Transaction, cursor: int) -> None:
        """STALE: a row written after the cursor by another instance (and not read since)."""
        for table, keys in written_keys(transaction).items():
            query, params = _VERSIONS[table]
            for row in await conn.fetch(query, *params(keys)):
                seq = row["seq"]
                if seq in self._own or seq <= max(cursor, self._seen.get((table, row["key"]), 0)):
                    continue
                raise ConflictError(MoneyRule.STALE, row["key"])

    async def maintain(self) -> None:
        """The money log keeps a week (and always its newest entry: the cursor's base)."""
        before = time.time() - LOG_KEEP_SECONDS
        await self._db.run(
            "pruning the money log",
            lambda conn: conn.execute(
                "DELETE FROM money_log WHERE at < $1 AND seq < (SELECT max(seq) FROM money_log)",
                before,
            ),
        )
