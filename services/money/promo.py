"""Promo codes: creating, listing, and activating them exactly within their limits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.errors import UserFacingError
from services.models import PromoActivation, PromoCode
from services.money.staging import Staged, Table
from services.money.subscriptions import SubscriptionService
from services.money.sync import MoneySync, synced
from services.operator.admin_input import MAX_DAYS, MAX_USES
from services.shared.throttle import MemoryWindow, Window
from services.storage.base import ConflictError, MoneyRule, Storage, Transaction

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,32}$")
GUESS_LIMIT = 5  # wrong codes per user...
GUESS_WINDOW = 600.0  # ...per this many seconds
# A store's refusal of an activation, as the refusal the checks here would have made.
_CONFLICT_REASONS = {
    MoneyRule.PROMO_ONCE_PER_USER: "already_used",
    MoneyRule.PROMO_MAX_USES: "used_up",
}


# Each refusal's text: an admin's (creating a code) or a user's (activating one).
PROMO_TEXTS = {
    "bad_code": "admin_promo_bad_code",
    "exists": "admin_promo_exists",
    "bad_numbers": "admin_promo_bad_numbers",
    "throttled": "promo_throttled",
    "unknown": "promo_unknown",
    "already_used": "promo_already_used",
    "expired": "promo_expired",
    "used_up": "promo_used_up",
}


class PromoError(UserFacingError):
    """An activation or admin action is refused; `reason` names why (a key of
    PROMO_TEXTS), and the text follows from it."""

    TEXT_KEYS = frozenset(PROMO_TEXTS.values())

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(PROMO_TEXTS[reason], reason, **details)
        self.reason = reason  # unknown, used_up, expired, already_used, throttled...
        self.details = details


@dataclass(slots=True, frozen=True)
class Activation:
    promo: PromoCode
    end: float


def _promo_codes(transaction: Transaction) -> list[PromoCode]:
    return transaction.promo_codes


def normalize_code(code: str) -> str:
    return code.strip().upper()


class PromoService:
    def __init__(
        self,
        storage: Storage,
        subscriptions: SubscriptionService,
        timezone: ZoneInfo,
        sync: MoneySync | None = None,
    ) -> None:
        self.sync = sync if sync is not None else MoneySync(storage)
        self._storage = storage
        self._subscriptions = subscriptions
        self._timezone = timezone
        self._codes: Table[str, PromoCode] = Table(lambda promo: promo.code, _promo_codes)
        self._users: dict[str, set[int]] = {}  # code -> users who activated it
        # Wrong guesses per user (a Redis window when processes share Redis: set by the
        # container), so a guesser is throttled across processes as in one.
        self.guesses: Window = MemoryWindow(GUESS_WINDOW)

    async def load(self, codes: list[PromoCode], activations: list[PromoActivation]) -> None:
        for promo in codes:
            self._codes.install(promo)
        for activation in activations:
            self._users.setdefault(activation.code, set()).add(activation.user_id)
        await self._recover_unrecorded_activations()

    def absorb(self, transaction: Transaction) -> None:
        """Take in codes and activations another process committed (see MoneySync)."""
        for promo in transaction.promo_codes:
            self._codes.install(promo)
        for code in transaction.deleted_promo_codes:
            deleted = self._codes.get(code)
            if deleted is not None:
                self._codes.remove(deleted)
        for activation in transaction.promo_activations:
            self._users.setdefault(activation.code, set()).add(activation.user_id)

    async def _recover_unrecorded_activations(self) -> None:
        """Files written by format 1 could hold a promo period without its activation
        (a crash between two writes): record it so that limits and once-per-user hold."""
        staged = Staged()
        for subscription in self._subscriptions.subscriptions():
            for period in subscription.periods:
                code = period.source.removeprefix("promo:")
                if code == period.source or code not in self._codes:
                    continue
                if subscription.user_id not in self._users.setdefault(code, set()):
                    self._users[code].add(subscription.user_id)
                    activation = PromoActivation(code, subscription.user_id, period.start)
                    staged.transaction.promo_activations.append(activation)
        await staged.commit(self._storage)

    # Admin side ----------------------------------------------------------------------
    def codes(self) -> list[PromoCode]:
        return sorted(self._codes.values(), key=lambda promo: promo.created_at)

    def get(self, code: str) -> PromoCode | None:
        return self._codes.get(normalize_code(code))

    def uses(self, code: str) -> int:
        return len(self._users.get(code, ()))

    def used_by(self, code: str, user_id: int) -> bool:
        return user_id in self._users.get(code, ())

    @synced
    async def create(
        self,
        code: str,
        plan_id: str,
        days: int,
        *,
        created_by: int,
        max_uses: int | None = None,
        valid_until: dt.date | None = None,
    ) -> PromoCode:
        code = normalize_code(code)
        if not CODE_PATTERN.match(code):
            raise PromoError("bad_code")
        if code in self._codes:
            raise PromoError("exists")
        self._subscriptions.plan(plan_id)  # raises UnknownPlanError
        if not 1 <= days <= MAX_DAYS or (max_uses is not None and not 1 <= max_uses <= MAX_USES):
            raise PromoError("bad_numbers")
        promo = PromoCode(
            code=code,
            plan_id=plan_id,
            days=days,
            max_uses=max_uses,
            valid_until=valid_until.isoformat() if valid_until else None,
            created_at=time.time(),
            created_by=created_by,
        )
        await self._put(promo)
        return promo

    @synced
    async def delete(self, code: str) -> bool:
        promo = self._codes.get(normalize_code(code))
        if promo is None:
            return False
        self._codes.remove(promo)
        staged = Staged()
        staged.transaction.deleted_promo_codes.append(promo.code)
        staged.on_undo(lambda: self._codes.install(promo))
        await staged.commit(self._storage)
        return True

    @synced
    async def set_disabled(self, code: str, disabled: bool) -> PromoCode | None:
        promo = self.get(code)
        if promo is None:
            return None
        updated = dataclasses.replace(promo, disabled=disabled)
        await self._put(updated)
        return updated

    async def _put(self, promo: PromoCode) -> None:
        staged = Staged()
        self._codes.stage(staged, promo)
        await staged.commit(self._storage)

    # User side ----------------------------------------------------------------------
    @synced
    async def activate(self, user_id: int, code: str, now: float | None = None) -> Activation:
        """Activate a code for a user; raises PromoError with the reason otherwise.

        The checks and the claim (the user counted as a use) happen with no await between
        them (the wrong-guess throttle is read before), so concurrent activations cannot
        exceed the limits; the activation and its period are committed together.
        """
        moment = time.time() if now is None else now
        if await self.guesses.count(str(user_id), moment) >= GUESS_LIMIT:
            raise PromoError("throttled")
        promo = self._codes.get(normalize_code(code))
        if promo is None or promo.disabled:
            await self.guesses.add(str(user_id), moment)
            raise PromoError("unknown")
        users = self._users.setdefault(promo.code, set())
        if user_id in users:
            raise PromoError("already_used")
        if promo.valid_until and self._today(moment) > dt.date.fromisoformat(promo.valid_until):
            raise PromoError("expired", date=promo.valid_until)
        if promo.max_uses is not None and len(users) >= promo.max_uses:
            raise PromoError("used_up")
        staged = Staged()
        users.add(user_id)
        staged.on_undo(lambda: users.discard(user_id))
        staged.transaction.promo_activations.append(PromoActivation(promo.code, user_id, moment))
        subscription = self._subscriptions.stage_period(
            staged, user_id, promo.plan_id, promo.days, f"promo:{promo.code}", moment
        )
        try:
            await staged.commit(self._storage)
        except ConflictError as conflict:  # the store counted it first (nothing written)
            if conflict.rule is MoneyRule.STALE:
                raise  # decided on an old record: MoneySync decides again
            raise PromoError(_CONFLICT_REASONS.get(conflict.rule, "used_up")) from conflict
        return Activation(promo, subscription.end)

    def _today(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, self._timezone).date()
