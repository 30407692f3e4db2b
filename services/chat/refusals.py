"""Why a request is not let through: every reason in one vocabulary, typed, spoken or
read alike (the edge picks each reason's text)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from services.catalog import Model
from services.limits.quota import Exhausted, LimitKind, QuotaExceededError


class Refusal(StrEnum):
    EMPTY_REQUEST = "empty_request"  # no text and no picture
    LOCKED = "locked"  # the model needs a plan the user does not hold
    UNAVAILABLE = "unavailable"  # its provider has no key, or no longer serves it
    BLIND = "blind"  # pictures to a model that does not see them
    TOO_LONG = "too_long"  # over the free length limit
    TOO_LONG_FOR_MODEL = "too_long_for_model"  # more than the model's context holds
    QUOTA_FREE_REQUESTS = "quota_free_requests"  # today's free requests are used
    QUOTA_FREE_CHARS = "quota_free_chars"  # today's free characters are used
    QUOTA_FAIR_USE_REQUESTS = "quota_fair_use_requests"  # the plan's daily cap
    QUOTA_PLAN_TOKENS = "quota_plan_tokens"  # the plan's tokens of the month
    VOICE_OFF = "voice_off"  # no [transcription], or its provider has no key
    VOICE_TOO_LONG = "voice_too_long"  # over [transcription]'s max_seconds
    VOICE_TOO_LONG_FREE = "voice_too_long_free"  # more speech than a free request holds
    VOICE_FREE_DAY = "voice_free_day"  # today's free seconds of speech are used


# What ran out, under which limits, as a refusal.
QUOTA_REFUSALS: Final[Mapping[tuple[LimitKind, Exhausted], Refusal]] = MappingProxyType(
    {
        ("free", "requests"): Refusal.QUOTA_FREE_REQUESTS,
        ("free", "chars"): Refusal.QUOTA_FREE_CHARS,
        ("fair_use", "requests"): Refusal.QUOTA_FAIR_USE_REQUESTS,
        ("plan", "tokens"): Refusal.QUOTA_PLAN_TOKENS,
    }
)
# Refusals a plan would lift: the refusal offers the plans.
PLAN_LIFTS: Final = frozenset(
    {
        Refusal.LOCKED,
        Refusal.TOO_LONG,
        Refusal.QUOTA_FREE_REQUESTS,
        Refusal.QUOTA_FREE_CHARS,
        Refusal.VOICE_TOO_LONG_FREE,
        Refusal.VOICE_FREE_DAY,
    }
)

# Refusals only speech meets (before it is transcribed).
SPEECH_REFUSALS: Final = frozenset(
    {Refusal.VOICE_OFF, Refusal.VOICE_TOO_LONG, Refusal.VOICE_TOO_LONG_FREE, Refusal.VOICE_FREE_DAY}
)


class ChatRefusalError(Exception):
    """The request is not let through (nothing is counted or paid for); `limit` is the
    bound it met, `resets_at` when a quota comes back."""

    def __init__(
        self,
        reason: Refusal,
        model: Model,
        *,
        limit: int | None = None,
        resets_at: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.model = model
        self.limit = limit
        self.resets_at = resets_at

    @property
    def plan_lifts(self) -> bool:
        return self.reason in PLAN_LIFTS


def quota_refusal(exceeded: QuotaExceededError, model: Model) -> ChatRefusalError:
    return ChatRefusalError(
        QUOTA_REFUSALS[exceeded.limits.kind, exceeded.what],
        model,
        limit=exceeded.limit,
        resets_at=exceeded.resets_at,
    )
