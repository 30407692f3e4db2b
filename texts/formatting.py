"""Numbers, money and moments as each language writes them (the one place for it).

Russian: digit groups split by a non-breaking space (1 199, 60 000), a decimal comma,
a real minus (−0,28), «МСК», «сегодня»/«завтра в 00:00». English: 1,199, -0.28, MSK,
"today"/"tomorrow at 00:00". Texts apply these to their values through format specs
(`{price:money}`, `{cost:dec2}`, `{count:num}`) and to moments (`format_moment`), so a template never
formats a number by hand.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

NBSP = "\u00a0"
_LATEST = dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp()
MINUS = "\u2212"
_ZONE_NAMES = {"ru": {"MSK": "МСК"}}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RELATIVE = {
    "ru": ("сегодня в {time}", "завтра в {time}"),
    "en": ("today at {time}", "tomorrow at {time}"),
}


def as_number(value: object) -> Decimal | None:
    """The number a value shows (5, "1.5", "1,5", "1 199", "−0.28"), or None."""
    text = str(value).strip().replace(NBSP, "").replace(" ", "").replace(MINUS, "-")
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def number(value: object, language: str, places: int | None = None, group_from: int = 5) -> str:
    """`value` written for `language`: digits grouped in a whole part of `group_from`
    digits or more (Russian leaves 3660 whole, but money groups from 4: 1 199 ₽), the
    language's decimal mark and minus; `places` fixes the decimals (None keeps those the
    value has). A value that is no number comes back as it was."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 675.0 is 675 ₽
    parsed = as_number(value)
    if parsed is None:
        return str(value)
    if places is not None:
        parsed = parsed.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    negative = parsed < 0 and parsed != 0
    whole, _, fraction = f"{abs(parsed):f}".partition(".")
    grouped = f"{int(whole):,}" if len(whole) >= group_from else whole
    if language == "ru":
        text = grouped.replace(",", NBSP) + ("," + fraction if fraction else "")
        return (MINUS + text) if negative else text
    text = grouped + ("." + fraction if fraction else "")
    return ("-" + text) if negative else text


def moment(timestamp: float, zone: ZoneInfo, language: str, now: float | None = None) -> str:
    """A moment: «сегодня в 15:30 МСК», «завтра в 00:00 МСК», else «28.12.2026 15:30 МСК»
    (English: "today at 15:30 MSK", ..., "Dec 28, 2026, 15:30 MSK")."""
    if not timestamp <= _LATEST:  # a plan saved with absurd days (also NaN): 30.12.9999
        timestamp = _LATEST
    local = dt.datetime.fromtimestamp(timestamp, zone)
    today = dt.datetime.fromtimestamp(time.time() if now is None else now, zone).date()
    zone_name = local.tzname() or ""
    zone_name = _ZONE_NAMES.get(language, {}).get(zone_name, zone_name)
    relative = _RELATIVE.get(language, _RELATIVE["en"])
    days = (local.date() - today).days
    if days in (0, 1):
        shown = relative[days].format(time=f"{local:%H:%M}")
    elif language == "ru":
        shown = f"{local:%d.%m.%Y %H:%M}"
    else:  # Dec 28, 2026, 15:30 (month names without the C locale's help)
        shown = f"{_MONTHS[local.month - 1]} {local.day}, {local.year}, {local:%H:%M}"
    return f"{shown} {zone_name}".rstrip()


def minutes(seconds: object) -> Decimal | None:
    """Seconds of speech as minutes to one decimal (600 -> 10, 594 -> 9.9), or None
    below a minute or for no number (those stay seconds)."""
    parsed = as_number(seconds)
    if parsed is None or parsed < 60:
        return None
    shown = (parsed / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return shown.to_integral_value() if shown == shown.to_integral_value() else shown
