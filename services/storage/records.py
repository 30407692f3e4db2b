"""Records <-> JSON: tolerant of fields older or newer versions wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from services.models import (
    Conversation,
    Conversations,
    Payment,
    Period,
    PromoActivation,
    PromoCode,
    Referral,
    ReferralCode,
    StarsSubscription,
    Subscription,
    UnmatchedMoney,
    UserRecord,
)

Record = dict[str, Any]
T = TypeVar("T")


def _known(cls: type[Any], raw: Record) -> Record:
    names = {field.name for field in dataclasses.fields(cls)}
    return {key: value for key, value in raw.items() if key in names}


def user_from_json(raw: Record) -> UserRecord:
    return UserRecord(**_known(UserRecord, raw))


def conversations_from_json(raw: Record) -> Conversations:
    items = tuple(Conversation(**_known(Conversation, item)) for item in raw.get("items", ()))
    return Conversations(current=raw.get("current"), items=items)


def payment_from_json(raw: Record) -> Payment:
    fields = _known(Payment, raw)
    fields["operations"] = tuple(fields.get("operations", ()))
    return Payment(**fields)


def subscription_from_json(raw: Record) -> Subscription:
    return Subscription(
        user_id=raw["user_id"],
        plan_id=raw["plan_id"],
        periods=tuple(Period(**_known(Period, period)) for period in raw.get("periods", ())),
        reminders_sent=tuple(raw.get("reminders_sent", ())),
    )


def promo_from_json(raw: Record) -> PromoCode:
    return PromoCode(**_known(PromoCode, raw))


def activation_from_json(raw: Record) -> PromoActivation:
    return PromoActivation(**_known(PromoActivation, raw))


def unmatched_from_json(raw: Record) -> UnmatchedMoney:
    return UnmatchedMoney(**_known(UnmatchedMoney, raw))


def stars_subscription_from_json(raw: Record) -> StarsSubscription:
    fields = _known(StarsSubscription, raw)
    fields["charges"] = tuple(fields.get("charges", ()))
    return StarsSubscription(**fields)


def referral_code_from_json(raw: Record) -> ReferralCode:
    return ReferralCode(**_known(ReferralCode, raw))


def referral_from_json(raw: Record) -> Referral:
    return Referral(**_known(Referral, raw))


def month_of(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m")


@dataclass(slots=True, frozen=True)
class Table:
    """One money table: its file name, key, record type and archive month."""

    name: str
    key: Callable[[Record], str]
    load: Callable[[Record], Any]
    month: Callable[[Record], str]  # the archive file a record goes to when it leaves


def _subscription_key(raw: Record) -> str:
    return f"{raw['user_id']}:{raw['plan_id']}"


def _subscription_month(raw: Record) -> str:
    return month_of(max((period["end"] for period in raw.get("periods", ())), default=0.0))


PAYMENTS = Table(
    "payments", lambda r: str(r["id"]), payment_from_json, lambda r: month_of(r["created_at"])
)
SUBSCRIPTIONS = Table(
    "subscriptions", _subscription_key, subscription_from_json, _subscription_month
)
PROMO_CODES = Table(
    "promo_codes", lambda r: str(r["code"]), promo_from_json, lambda r: month_of(r["created_at"])
)
PROMO_ACTIVATIONS = Table(
    "promo_activations",
    lambda r: f"{r['code']}:{r['user_id']}",
    activation_from_json,
    lambda r: month_of(r["at"]),
)
UNMATCHED = Table(
    "unmatched_money", lambda r: str(r["id"]), unmatched_from_json, lambda r: month_of(r["at"])
)
STARS_SUBSCRIPTIONS = Table(
    "stars_subscriptions",
    lambda r: str(r["id"]),
    stars_subscription_from_json,
    lambda r: month_of(r["created_at"]),
)
REFERRAL_CODES = Table(
    "referral_codes",
    lambda r: str(r["user_id"]),
    referral_code_from_json,
    lambda r: month_of(r["created_at"]),
)
REFERRALS = Table(
    "referrals", lambda r: str(r["user_id"]), referral_from_json, lambda r: month_of(r["at"])
)
TABLES = (
    PAYMENTS,
    SUBSCRIPTIONS,
    PROMO_CODES,
    PROMO_ACTIVATIONS,
    UNMATCHED,
    STARS_SUBSCRIPTIONS,
    REFERRAL_CODES,
    REFERRALS,
)


def dumps(record: object) -> bytes:
    return orjson.dumps(record)
