"""Records <-> JSON: tolerant of fields older or newer versions wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from services.models import (
    Conversation,
    Conversations,
    OutboxItem,
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
DAY_SECONDS = 86_400  # UTC days: months begin at one


_FIELD_NAMES: dict[type[Any], frozenset[str]] = {}


def _field_names(cls: type[Any]) -> frozenset[str]:
    """A record type's field names, looked up once (not once per record loaded)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(field.name for field in dataclasses.fields(cls))
    return names


def _known(cls: type[Any], raw: Record) -> Record:
    names = _field_names(cls)
    if names.issuperset(raw):  # the usual case: a plain copy, no filtering per key
        return dict(raw)
    return {key: value for key, value in raw.items() if key in names}


def user_from_json(raw: Record) -> UserRecord:
    return UserRecord(**_known(UserRecord, raw))


def conversations_from_json(raw: Record) -> Conversations:
    items = tuple(Conversation(**_known(Conversation, item)) for item in raw.get("items", ()))
    return Conversations(current=raw.get("current"), items=items)


SHARED_PAYMENT_FIELDS = ("plan_id", "method", "currency", "status")  # a few values each


def payment_from_json(raw: Record) -> Payment:
    fields = _known(Payment, raw)
    fields["operations"] = tuple(fields.get("operations", ()))
    for name in SHARED_PAYMENT_FIELDS:
        if isinstance(value := fields.get(name), str):
            fields[name] = sys.intern(value)
    return Payment(**fields)


def subscription_from_json(raw: Record) -> Subscription:
    """Tens of thousands stay in memory: the plan id is the one shared string of its plan,
    and a promo period's source the one of its code (fields a newer version added are
    ignored, as everywhere here)."""
    return Subscription(
        user_id=raw["user_id"],
        plan_id=sys.intern(raw["plan_id"]),
        periods=tuple(period_from_json(period) for period in raw.get("periods", ())),
        reminders_sent=tuple(raw.get("reminders_sent", ())),
    )


def period_from_json(raw: Record) -> Period:
    source: str = raw["source"]
    if source.startswith("promo:"):  # a few codes, each behind many periods
        source = sys.intern(source)
    return Period(raw["start"], raw["end"], source)


def promo_from_json(raw: Record) -> PromoCode:
    return PromoCode(**_known(PromoCode, raw))


def activation_from_json(raw: Record) -> PromoActivation:
    """As many as there were promo periods: built directly, the code shared."""
    return PromoActivation(sys.intern(raw["code"]), raw["user_id"], raw["at"])


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


def outbox_from_json(raw: Record) -> OutboxItem:
    fields = _known(OutboxItem, raw)
    fields["params"] = tuple((str(k), str(v)) for k, v in fields.get("params", ()))
    fields["moments"] = tuple((str(k), float(v)) for k, v in fields.get("moments", ()))
    return OutboxItem(**fields)


def month_of(moment: float) -> str:
    """The archive month (UTC) of a moment; a compaction asks it for every record."""
    return _month_of_day(int(moment // DAY_SECONDS))


@functools.lru_cache(maxsize=4096)
def _month_of_day(day: int) -> str:
    return dt.datetime.fromtimestamp(day * DAY_SECONDS, dt.UTC).strftime("%Y-%m")


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
OUTBOX = Table(
    "outbox", lambda r: str(r["id"]), outbox_from_json, lambda r: month_of(r["created_at"])
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
    OUTBOX,
)


def dumps(record: object) -> bytes:
    return orjson.dumps(record)
