"""The money rules as statements: each write of a commit either passes its rule in the
database (a conditional upsert, a unique index, a counter under a row lock) or raises
ConflictError, and the caller's transaction is rolled back whole.

Run inside one transaction, in the JSON rules' order (services/storage/rules.py):
payments (status, money events, then the open invoices), unmatched money, promo codes
and activations, Stars subscriptions and their charges, referral codes and referrals,
then the records no rule is about (subscriptions, outbox).
"""

from __future__ import annotations

import asyncpg

from services.models import Payment, PromoActivation, Referral, StarsSubscription
from services.storage.base import ConflictError, MoneyRule, Retention, Transaction
from services.storage.postgres.connection import Conn
from services.storage.rules import money_events

_PAYMENT = """
INSERT INTO payments AS p
    (id, user_id, plan_id, method, status, created_at, updated_at, open_slot, seq, record)
VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9)
ON CONFLICT (id) DO UPDATE SET
    user_id = EXCLUDED.user_id, plan_id = EXCLUDED.plan_id, method = EXCLUDED.method,
    status = EXCLUDED.status, created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at, open_slot = p.open_slot AND EXCLUDED.status = 'pending',
    seq = EXCLUDED.seq, record = EXCLUDED.record
WHERE p.status = EXCLUDED.status OR EXISTS (
    SELECT 1 FROM payment_transitions t
    WHERE t.from_status = p.status AND t.to_status = EXCLUDED.status)
RETURNING (xmax = 0) AS inserted
"""
_EVENTS = """
INSERT INTO payment_events (event, payment_id) SELECT e, $2 FROM unnest($1::text[]) AS e
ON CONFLICT (event) DO UPDATE SET payment_id = EXCLUDED.payment_id
WHERE payment_events.payment_id = EXCLUDED.payment_id
RETURNING event
"""
# An invoice near its expiry gives its place to a newer one ($5: invoice_reuse_seconds).
_RELEASE_SLOT = """
UPDATE payments SET open_slot = false
WHERE user_id = $1 AND plan_id = $2 AND method = $3 AND open_slot AND id <> $4
    AND ($5 <= 0 OR created_at <= $6 - $5)
"""
_TAKE_SLOT = "UPDATE payments SET open_slot = true WHERE id = $1"
_UNMATCHED = """
INSERT INTO unmatched_money AS u (id, resolved_at, seq, record) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
    resolved_at = EXCLUDED.resolved_at, seq = EXCLUDED.seq, record = EXCLUDED.record
WHERE EXCLUDED.resolved_at IS NOT NULL
RETURNING 1
"""
_PROMO = """
INSERT INTO promo_codes (code, max_uses, seq, record) VALUES ($1, $2, $3, $4)
ON CONFLICT (code) DO UPDATE SET
    max_uses = EXCLUDED.max_uses, seq = EXCLUDED.seq, record = EXCLUDED.record
"""
_ACTIVATION = """
INSERT INTO promo_activations (code, user_id, at, seq) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING RETURNING 1
"""
# Counted under the counter row's lock (held until the commit ends).
_COUNT_USE = """
WITH counted AS (
    INSERT INTO promo_uses (code, uses) VALUES ($1, 1)
    ON CONFLICT (code) DO UPDATE SET uses = promo_uses.uses + 1
    RETURNING uses)
SELECT counted.uses, (SELECT max_uses FROM promo_codes WHERE code = $1) AS max_uses
FROM counted
"""
_STARS = """
INSERT INTO stars_subscriptions (id, live_at, seq, record) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
    live_at = EXCLUDED.live_at, seq = EXCLUDED.seq, record = EXCLUDED.record
"""
_CHARGES = """
INSERT INTO stars_charges (charge_id, subscription_id) SELECT c, $2 FROM unnest($1::text[]) c
ON CONFLICT (charge_id) DO UPDATE SET subscription_id = EXCLUDED.subscription_id
WHERE stars_charges.subscription_id = EXCLUDED.subscription_id
RETURNING charge_id
"""
_REFERRAL_CODE = """
INSERT INTO referral_codes AS r (user_id, code, created_at, seq) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id) DO UPDATE SET created_at = EXCLUDED.created_at, seq = EXCLUDED.seq
WHERE r.code = EXCLUDED.code
RETURNING 1
"""
_REFERRAL = """
INSERT INTO referrals AS r (user_id, inviter_id, payment_id, reward_plan, seq, record)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id) DO UPDATE SET
    payment_id = EXCLUDED.payment_id, reward_plan = EXCLUDED.reward_plan,
    seq = EXCLUDED.seq, record = EXCLUDED.record
WHERE r.inviter_id = EXCLUDED.inviter_id AND (r.payment_id IS NULL OR (
    r.payment_id = EXCLUDED.payment_id AND r.reward_plan IS NOT DISTINCT FROM EXCLUDED.reward_plan))
RETURNING 1
"""
_SUBSCRIPTION = """
INSERT INTO subscriptions (user_id, plan_id, end_at, seq, record) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id, plan_id) DO UPDATE SET
    end_at = EXCLUDED.end_at, seq = EXCLUDED.seq, record = EXCLUDED.record
"""
_OUTBOX = """
INSERT INTO outbox (id, done_at, seq, record) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
    done_at = EXCLUDED.done_at, seq = EXCLUDED.seq, record = EXCLUDED.record
"""


def stars_live_at(record: StarsSubscription) -> float:
    return max(record.updated_at, record.expires_at or 0.0)


async def write(conn: Conn, transaction: Transaction, seq: int, retention: Retention) -> None:
    """Every record of the transaction, each through its rule (inside the caller's
    database transaction: a ConflictError rolls all of it back)."""
    await _write_payments(conn, transaction.payments, seq, retention.invoice_reuse_seconds)
    for item in transaction.unmatched:
        args = (item.id, item.resolved_at, seq, item)
        if await conn.fetchval(_UNMATCHED, *args) is None:
            raise ConflictError(MoneyRule.MONEY_EVENT_ONCE, item.id)
    await _write_promo(conn, transaction, seq)
    for record in transaction.stars_subscriptions:
        await _write_stars(conn, record, seq)
    await _write_referrals(conn, transaction, seq)
    for subscription in transaction.subscriptions:
        user, plan, end = subscription.user_id, subscription.plan_id, subscription.end
        await conn.execute(_SUBSCRIPTION, user, plan, end, seq, subscription)
    for task in transaction.outbox:
        await conn.execute(_OUTBOX, task.id, task.done_at, seq, task)


async def _write_payments(conn: Conn, payments: list[Payment], seq: int, reuse: float) -> None:
    newly_open: list[Payment] = []
    for payment in payments:
        row = await conn.fetchrow(
            _PAYMENT,
            payment.id,
            payment.user_id,
            payment.plan_id,
            payment.method,
            payment.status,
            payment.created_at,
            payment.updated_at,
            seq,
            payment,
        )
        if row is None:
            raise ConflictError(MoneyRule.STATUS_FORWARD, payment.id)
        if row["inserted"] and payment.status == "pending":
            newly_open.append(payment)
        events = list(dict.fromkeys(money_events(payment)))
        if events:
            credited = {r["event"] for r in await conn.fetch(_EVENTS, events, payment.id)}
            for event in events:
                if event not in credited:
                    raise ConflictError(MoneyRule.MONEY_EVENT_ONCE, event)
    for payment in newly_open:  # after the transaction's other invoices moved on
        key = (payment.user_id, payment.plan_id, payment.method)
        await conn.execute(_RELEASE_SLOT, *key, payment.id, reuse, payment.created_at)
        try:
            await conn.execute(_TAKE_SLOT, payment.id)
        except asyncpg.UniqueViolationError:
            raise ConflictError(MoneyRule.ONE_OPEN_INVOICE, payment.id) from None


async def _write_promo(conn: Conn, transaction: Transaction, seq: int) -> None:
    for promo in transaction.promo_codes:
        await conn.execute(_PROMO, promo.code, promo.max_uses, seq, promo)
    if transaction.deleted_promo_codes:  # their activations stay (and count)
        await conn.execute(
            "DELETE FROM promo_codes WHERE code = ANY($1::text[])",
            transaction.deleted_promo_codes,
        )
    for activation in transaction.promo_activations:
        await _activate(conn, activation, seq)


async def _activate(conn: Conn, activation: PromoActivation, seq: int) -> None:
    code, user = activation.code, activation.user_id
    if await conn.fetchval(_ACTIVATION, code, user, activation.at, seq) is None:
        raise ConflictError(MoneyRule.PROMO_ONCE_PER_USER, f"{code}:{user}")
    counted = await conn.fetchrow(_COUNT_USE, code)
    assert counted is not None
    if counted["max_uses"] is not None and counted["uses"] > counted["max_uses"]:
        raise ConflictError(MoneyRule.PROMO_MAX_USES, code)


async def _write_stars(conn: Conn, record: StarsSubscription, seq: int) -> None:
    if len(set(record.charges)) != len(record.charges):
        raise ConflictError(MoneyRule.STARS_CHARGE_ONCE, record.id)
    await conn.execute(_STARS, record.id, stars_live_at(record), seq, record)
    if record.charges:
        charges = list(record.charges)
        credited = {r["charge_id"] for r in await conn.fetch(_CHARGES, charges, record.id)}
        for charge in charges:
            if charge not in credited:
                raise ConflictError(MoneyRule.STARS_CHARGE_ONCE, charge)


async def _write_referrals(conn: Conn, transaction: Transaction, seq: int) -> None:
    for code in transaction.referral_codes:
        try:
            written = await conn.fetchval(
                _REFERRAL_CODE, code.user_id, code.code, code.created_at, seq
            )
        except asyncpg.UniqueViolationError:  # the code is another user's
            written = None
        if written is None:
            raise ConflictError(MoneyRule.REFERRAL_CODE_UNIQUE, code.code)
    for referral in transaction.referrals:
        await _write_referral(conn, referral, seq)


async def _write_referral(conn: Conn, referral: Referral, seq: int) -> None:
    args = (referral.user_id, referral.inviter_id, referral.payment_id, referral.reward_plan)
    if await conn.fetchval(_REFERRAL, *args, seq, referral) is not None:
        return
    inviter = await conn.fetchval(
        "SELECT inviter_id FROM referrals WHERE user_id = $1", referral.user_id
    )
    rule = MoneyRule.INVITED_ONCE if inviter != referral.inviter_id else MoneyRule.REWARD_ONCE
    raise ConflictError(rule, str(referral.user_id))
