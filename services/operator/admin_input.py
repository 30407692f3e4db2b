"""Numbers an admin types (days, activations, user ids), read strictly and bounded.

Whatever is saved has to render later: a plan 999,999,999 days long ends past the year
9999 and breaks the user's /plans and /profile; an id beyond 64 bits cannot be written
to JSON at all. So input beyond these bounds is refused before anything changes.
"""

from __future__ import annotations

import datetime as dt
import re

MAX_DAYS = 3660  # ten years and their leap days: the most one grant or promo code gives
MAX_USES = 1_000_000  # activations of one promo code
MAX_USER_ID = 2**52 - 1  # Telegram user ids have at most 52 significant bits
_MAX_DIGITS = 20  # longer digit strings are not read at all (int() of them is costly)


def whole_number(text: str) -> int | None:
    """`text` as a whole number written in ASCII digits ("30"), else None ("²", "-1", "")."""
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return int(text) if len(text) <= _MAX_DIGITS else 10**_MAX_DIGITS  # "too big" either way


_DOTTED_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def typed_date(text: str) -> dt.date | None:
    """A typed date, as a Russian writes it (31.12.2030) or in ISO (2030-12-31); None if
    it is neither or no such day."""
    text = text.strip()
    dotted = _DOTTED_DATE.match(text)
    try:
        if dotted:
            day, month, year = (int(part) for part in dotted.groups())
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def within(value: int, maximum: int) -> bool:
    """1..maximum: what a count of days, uses or an id may be."""
    return 1 <= value <= maximum


def typed_user_id(text: str) -> int | None:
    """A typed user id: the id, 0 when it is a number no Telegram id can be, None when it
    is no number at all."""
    number = whole_number(text)
    if number is None:
        return None
    return number if within(number, MAX_USER_ID) else 0


def grouped(number: int) -> str:
    """1000000 -> "1 000 000", digits grouped by non-breaking spaces."""
    return f"{number:,}".replace(",", "\u00a0")


def echo(text: str, limit: int = 64) -> str:
    """What an answer repeats of a typed value: at most `limit` characters, so that the
    answer always fits one message whatever was pasted."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
