"""Referrals: personal invite links, who invited whom, and the inviter's bonus for an
invited user's first payment, granted exactly once.

- `/invite` gives `t.me/<bot>?start=ref_<code>`: the code is random (unguessable), made
  and stored the first time (`ReferralCode`), then never changes.
- A user whose very first /start carries another user's code is recorded as invited by
  them (`Referral`). An unknown code, one's own, a user who had started the bot before,
  or a second invitation record nothing.
- The invited user's first credited payment (any method) marks their `Referral` with it
  and gives the inviter the catalog's `[referral]` bonus (days of a plan, extra free
  requests a day for some days, or both), in the payment's own
  transaction (a `PaymentService` credit rule): it lands with the payment or not at all,
  once, whatever path or how many paths credit it. A refund of that payment takes the
  bonus back in the refund's transaction (a refund rule).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.catalog import Catalog, Plan
from services.models import Payment, Referral, ReferralCode
from services.money.payments import CreditResult
from services.money.staging import InFlight, Staged, Table
from services.money.subscriptions import SubscriptionService
from services.money.sync import MoneySync, synced
from services.storage.base import ConflictError, MoneyRule, Storage, Transaction

logger = logging.getLogger(__name__)

START_PREFIX = "ref_"  # /start ref_<code>
CODE_BYTES = 8  # random bytes of a code: 11 characters of A-Za-z0-9_-
# Telegram's start parameter: up to 64 characters of A-Za-z0-9_-.
_START_CODE = re.compile(rf"^{START_PREFIX}([A-Za-z0-9_-]{{1,{64 - len(START_PREFIX)}}})$")
SOURCE_PREFIX = "referral:"  # the bonus period's source: "referral:<invited user id>"
TOP_INVITERS = 10


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={START_PREFIX}{code}"


def code_from_start(argument: str | None) -> str | None:
    """The code in a /start argument `ref_<code>`; None if the argument is no invite."""
    match = _START_CODE.match((argument or "").strip())
    return match.group(1) if match else None


@dataclass(slots=True, frozen=True)
class Reward:
    """An inviter got their bonus: what to tell them."""

    inviter_id: int
    invited_id: int
    plan: Plan | None  # days of it, or None
    days: int
    end: float  # the inviter's plan end after the bonus (0 without a plan)
    requests: int = 0  # extra free requests a day for `days` days


@dataclass(slots=True, frozen=True)
class InviterCount:
    user_id: int
    invited: int
    rewarded: int


def _codes(transaction: Transaction) -> list[ReferralCode]:
    return transaction.referral_codes


def _referrals(transaction: Transaction) -> list[Referral]:
    return transaction.referrals


class CodeTable(Table[int, ReferralCode]):
    """Invite codes by user, and the user of each code."""

    def __init__(self) -> None:
        super().__init__(lambda record: record.user_id, _codes)
        self.owners: dict[str, int] = {}  # code -> user

    def install(self, record: ReferralCode) -> None:
        super().install(record)
        self.owners[record.code] = record.user_id

    def remove(self, record: ReferralCode) -> None:
        super().remove(record)
        self.owners.pop(record.code, None)


class ReferralTable(Table[int, Referral]):
    """Referrals by invited user, and the users each inviter invited."""

    def __init__(self) -> None:
        super().__init__(lambda record: record.user_id, _referrals)
        self.invited: dict[int, set[int]] = {}  # inviter -> the users they invited

    def install(self, record: Referral) -> None:
        super().install(record)
        self.invited.setdefault(record.inviter_id, set()).add(record.user_id)

    def remove(self, record: Referral) -> None:
        super().remove(record)
        invited = self.invited.get(record.inviter_id, set())
        invited.discard(record.user_id)
        if not invited:
            self.invited.pop(record.inviter_id, None)


class ReferralService:
    """Codes and referrals in memory (all of them are live records); every change is
    committed through storage, checked and claimed in memory before the first await."""

    def __init__(
        self,
        storage: Storage,
        subscriptions: SubscriptionService,
        catalog: Catalog,
        sync: MoneySync | None = None,
    ) -> None:
        self.sync = sync if sync is not None else MoneySync(storage)
        self._storage = storage
        self._subscriptions = subscriptions
        self._catalog = catalog
        self._codes = CodeTable()
        self._owners = self._codes.owners
        self._referrals = ReferralTable()
        self._invited = self._referrals.invited
        self._in_flight = InFlight()
        # Called once per bonus granted, after it is durable (the inviter is told).
        self.reward_listeners: list[Callable[[Reward], Awaitable[object]]] = []

    def load(self, codes: list[ReferralCode], referrals: list[Referral]) -> None:
        for code in codes:
            self._codes.install(code)
        for referral in referrals:
            self._referrals.install(referral)

    def absorb(self, transaction: Transaction) -> None:
        """Take in codes and invitations another process committed (see MoneySync)."""
        for code in transaction.referral_codes:
            self._codes.install(code)
        for referral in transaction.referrals:
            self._referrals.install(referral)

    # Codes --------------------------------------------------------------------------
    def code_of(self, user_id: int) -> str | None:
        record = self._codes.get(user_id)
        return record.code if record is not None else None

    def owner_of(self, code: str) -> int | None:
        return self._owners.get(code)

    @synced
    async def code_for(self, user_id: int, now: float | None = None) -> str:
        """The user's invite code, made and stored the first time; the same ever after
        (also for two requests at once)."""
        key = f"code:{user_id}"
        existing = self._codes.get(user_id)
        if existing is not None:
            await self._in_flight.settled(key)  # shown only once it is on disk
            return existing.code
        code = secrets.token_urlsafe(CODE_BYTES)
        while code in self._owners:  # a collision is astronomically rare; never shared
            code = secrets.token_urlsafe(CODE_BYTES)
        staged = Staged()
        self._codes.stage(staged, ReferralCode(user_id, code, time.time() if now is None else now))
        await self._in_flight.commit(staged, self._storage, [key])
        return code

    # Invitations ----------------------------------------------------------------------
    @synced
    async def arrive(
        self,
        user_id: int,
        start_argument: str | None,
        *,
        first_visit: bool,
        now: float | None = None,
    ) -> Referral | None:
        """A user sent /start with `start_argument`: if it is another user's invite code
        and this is the user's very first visit, record them as invited by that user.

        Anything else records nothing and is no error: no invite, an unknown code, one's
        own code, a user who had started the bot before, one already invited.
        """
        code = code_from_start(start_argument)
        if code is None:
            return None
        inviter = self._owners.get(code)
        refused = ""
        if inviter is None:
            refused = "an unknown code"
        elif inviter == user_id:
            refused = "their own link"
        elif not first_visit:
            refused = "a returning user"
        elif user_id in self._referrals:  # e.g. the link opened twice at once
            refused = "already invited"
        if inviter is None or refused:
            logger.info("Invite link not counted for user %s: %s", user_id, refused)
            return None
        referral = Referral(user_id, inviter, time.time() if now is None else now)
        staged = Staged()
        self._referrals.stage(staged, referral)
        try:
            await self._commit(staged)
        except ConflictError as conflict:  # the store has an invitation of them already
            if conflict.rule is MoneyRule.STALE:
                raise  # decided on an old record: MoneySync decides again
            logger.info("Invite link not counted for user %s: %s", user_id, conflict)
            return None
        logger.info("User %s invited by %s", user_id, inviter)
        return referral

    def counts(self, inviter_id: int) -> tuple[int, int]:
        """(users invited, of them rewarded) for an inviter."""
        invited = self._invited.get(inviter_id, set())
        rewarded = sum(1 for user_id in invited if self._referral(user_id).rewarded)
        return len(invited), rewarded

    def top(self, limit: int = TOP_INVITERS) -> list[InviterCount]:
        """The inviters with the most rewarded, then invited, users."""
        rows = [InviterCount(inviter, *self.counts(inviter)) for inviter in list(self._invited)]
        rows.sort(key=lambda row: (-row.rewarded, -row.invited, row.user_id))
        return rows[:limit]

    # The bonus --------------------------------------------------------------------------
    def extra_requests(self, inviter_id: int, now: float | None = None) -> int:
        """Extra free requests a day the inviter has now from friends' first payments."""
        moment = time.time() if now is None else now
        invited = self._invited.get(inviter_id, ())
        return sum(self._referral(user_id).extra_requests(moment) for user_id in invited)

    def stage_reward(self, staged: Staged, payment: Payment, now: float) -> None:
        """A credit rule (`PaymentService.credit_rules`): the invited user's first credited
        payment marks their referral with it and gives the inviter the catalog's bonus,
        in the payment's transaction. The claim is made in memory before any await, so a
        second payment (also one credited at the same moment) finds it taken."""
        referral = self._referrals.get(payment.user_id)
        if referral is None or referral.payment_id is not None:
            return
        bonus = self._catalog.referral
        updated = dataclasses.replace(
            referral,
            payment_id=payment.id,
            paid_at=now,
            reward_plan=bonus.plan if bonus is not None else None,
            reward_days=bonus.days if bonus is not None else 0,
            reward_requests=bonus.requests if bonus is not None else 0,
        )
        if bonus is not None and bonus.plan is not None:
            # May raise for an unknown plan: before anything is staged.
            self._subscriptions.stage_period(
                staged,
                referral.inviter_id,
                bonus.plan,
                bonus.days,
                f"{SOURCE_PREFIX}{referral.user_id}",
                now,
            )
        self._referrals.stage(staged, updated)

    def stage_refund(self, staged: Staged, payment: Payment, now: float) -> None:
        """A refund rule (`PaymentService.refund_rules`): the refund of the payment that
        earned a bonus takes it back in the refund's transaction: the unused bonus days,
        and the extra requests from now on. The friend earns no second bonus."""
        referral = self._referrals.get(payment.user_id)
        if referral is None or referral.payment_id != payment.id or referral.refunded_at:
            return
        if referral.reward_plan is not None:
            source = f"{SOURCE_PREFIX}{referral.user_id}"
            self._subscriptions.stage_refund(staged, referral.inviter_id, source, now)
        self._referrals.stage(staged, dataclasses.replace(referral, refunded_at=now))
        logger.info(
            "Referral bonus of user %s taken back: user %s's payment %s was refunded",
            referral.inviter_id,
            referral.user_id,
            payment.id,
        )

    async def on_credit(self, result: CreditResult) -> None:
        """A credit listener: once the credit is durable, tell about the bonus it gave."""
        referral = self._referrals.get(result.payment.user_id)
        if referral is None or referral.payment_id != result.payment.id or not referral.rewarded:
            return
        plan = self._catalog.plans_by_id.get(referral.reward_plan or "")
        ends = [
            item.end
            for item in self._subscriptions.active_plans(referral.inviter_id)
            if plan is not None and item.plan.id == plan.id
        ]
        reward = Reward(
            referral.inviter_id,
            referral.user_id,
            plan,
            referral.reward_days,
            max(ends, default=0),
            referral.reward_requests,
        )
        logger.info(
            "Referral bonus: user %s got %s days of %s and %s extra requests a day "
            "for user %s's first payment",
            reward.inviter_id,
            reward.days,
            plan.id if plan is not None else "no plan",
            reward.requests,
            reward.invited_id,
        )
        for listener in self.reward_listeners:
            try:
                await listener(reward)
            except Exception:  # telling must not undo or repeat a bonus
                logger.exception("A referral listener failed for user %s", reward.inviter_id)

    # Internals ----------------------------------------------------------------------
    def _referral(self, user_id: int) -> Referral:
        """An invited user's referral (one the index lists)."""
        referral = self._referrals.get(user_id)
        assert referral is not None
        return referral

    async def _commit(self, staged: Staged) -> None:
        keys = [f"referral:{item.user_id}" for item in staged.transaction.referrals]
        await self._in_flight.commit(staged, self._storage, keys)
