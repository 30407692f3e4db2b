"""Promo codes: creating, listing, and activating them exactly within their limits."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import deque
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.models import PromoActivation, PromoCode
from services.storage.base import Storage
from services.subscriptions import SubscriptionService

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,32}$")
GUESS_LIMIT = 5  # wrong codes per user...
GUESS_WINDOW = 600.0  # ...per this many seconds


class PromoError(Exception):
    """An activation or admin action is refused; `reason` selects the user's text."""

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(reason)
        self.reason = reason  # unknown, used_up, expired, already_used, throttled, disabled...
        self.details = details


@dataclass(slots=True, frozen=True)
class Activation:
    promo: PromoCode
    end: float


def normalize_code(code: str) -> str:
    return code.strip().upper()


class PromoService:
    def __init__(
        self, storage: Storage, subscriptions: SubscriptionService, timezone: ZoneInfo
    ) -> None:
        self._storage = storage
        self._subscriptions = subscriptions
        self._timezone = timezone
        self._codes: dict[str, PromoCode] = {}
        self._wrong_guesses: dict[int, deque[float]] = {}

    async def load(self) -> None:
        self._codes = {promo.code: promo for promo in await self._storage.all_promo_codes()}
        await self._recover_unrecorded_activations()

    async def _recover_unrecorded_activations(self) -> None:
        """A crash between the two writes of an activation leaves the period saved but
        not the activation: record it now so that limits and the once-per-user rule hold."""
        for subscription in self._subscriptions.subscriptions():
            for period in subscription.periods:
                if not period.source.startswith("promo:"):
                    continue
                promo = self._codes.get(period.source.removeprefix("promo:"))
                if promo is not None and not promo.used_by(subscription.user_id):
                    promo.activations.append(PromoActivation(subscription.user_id, period.start))
                    await self._storage.save_promo_code(promo)

    # Admin side ----------------------------------------------------------------------
    def codes(self) -> list[PromoCode]:
        return sorted(self._codes.values(), key=lambda promo: promo.created_at)

    def get(self, code: str) -> PromoCode | None:
        return self._codes.get(normalize_code(code))

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
        if not 1 <= days <= 3660 or (max_uses is not None and max_uses < 1):
            raise PromoError("bad_numbers")
        promo = PromoCode(
            code=code,
            plan_id=plan_id,
            days=days,
            max_uses=max_uses,
            valid_until=valid_until.isoformat() if valid_until else None,
            created_at=time.time(),
            created_by=created_by,
            activations=[],
        )
        self._codes[code] = promo
        await self._storage.save_promo_code(promo)
        return promo

    async def delete(self, code: str) -> bool:
        promo = self._codes.pop(normalize_code(code), None)
        if promo is None:
            return False
        await self._storage.delete_promo_code(promo.code)
        return True

    async def set_disabled(self, code: str, disabled: bool) -> PromoCode | None:
        promo = self.get(code)
        if promo is not None:
            promo.disabled = disabled
            await self._storage.save_promo_code(promo)
        return promo

    # User side ----------------------------------------------------------------------
    async def activate(self, user_id: int, code: str, now: float | None = None) -> Activation:
        """Activate a code for a user; raises PromoError with the reason otherwise.

        The checks and both in-memory changes happen without an await between
        them, so concurrent activations cannot exceed the limits. The period is
        saved before the activation record (see `_recover_unrecorded_activations`).
        """
        moment = time.time() if now is None else now
        if self._is_throttled(user_id, moment):
            raise PromoError("throttled")
        promo = self._codes.get(normalize_code(code))
        if promo is None or promo.disabled:
            self._wrong_guesses.setdefault(user_id, deque()).append(moment)
            raise PromoError("unknown")
        if promo.used_by(user_id):
            raise PromoError("already_used")
        if promo.valid_until and self._today(moment) > dt.date.fromisoformat(promo.valid_until):
            raise PromoError("expired", date=promo.valid_until)
        if promo.max_uses is not None and len(promo.activations) >= promo.max_uses:
            raise PromoError("used_up")
        promo.activations.append(PromoActivation(user_id, moment))
        subscription = self._subscriptions.add_period(
            user_id, promo.plan_id, promo.days, f"promo:{promo.code}", moment
        )
        await self._subscriptions.save(subscription)
        await self._storage.save_promo_code(promo)
        return Activation(promo, subscription.end)

    def _is_throttled(self, user_id: int, now: float) -> bool:
        guesses = self._wrong_guesses.get(user_id)
        if not guesses:
            return False
        while guesses and now - guesses[0] > GUESS_WINDOW:
            guesses.popleft()
        return len(guesses) >= GUESS_LIMIT

    def _today(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, self._timezone).date()
