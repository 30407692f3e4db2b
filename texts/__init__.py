"""User-facing texts: Russian by default, English for English-speaking users."""

from __future__ import annotations

import datetime as dt
import html
import re
import string
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from texts import en, formatting, ru

CATALOGS: dict[str, dict[str, str]] = {"ru": ru.TEXTS, "en": en.TEXTS}
DEFAULT_LANGUAGE = "ru"


class Raw(str):
    """A value that is already HTML and must not be escaped again."""

    __slots__ = ()


def language_for(language_code: str | None) -> str:
    """Telegram's language_code -> one of our languages."""
    return "en" if language_code and language_code.lower().startswith("en") else "ru"


# Plurals ------------------------------------------------------------------------------
# A template names the value to count and the noun's forms: "{days:plural:день|дня|дней}"
# renders the number and the noun, "1 день", "3 дня", "5 дней", "21 день", "1,5 дня";
# English gives two forms, "{days:plural:day|days}". The forms are in the case the
# sentence needs ("через {seconds:plural:секунду|секунды|секунд}"). A fraction takes the
# second form ("1,5 часа", "1.5 hours"), right where the noun is nominative or accusative;
# the counts in other cases ("до N символов", "N пользователям") are whole numbers. The
# value is escaped like every other one.
PLURAL_SPEC = "plural:"
# Number specs: "{price:money}" (1 199, grouped from 4 digits), "{count:num}" (60 000,
# grouped from 5), "{cost:dec2}" (1 524,75 and −0,28 in Russian, two decimals).
NUMBER_SPECS: dict[str, tuple[int | None, int]] = {
    "money": (None, 4),
    "num": (None, 5),
    "dec2": (2, 4),
}
# "{limit:minutes:минуты|минут|минут}": seconds as minutes with the noun's forms; under
# a minute, seconds ("45 сек.").
MINUTES_SPEC = "minutes:"
SECONDS = {"ru": "{seconds}\u00a0сек.", "en": "{seconds} s"}
_SPEC = re.compile(r"\{\w+:")  # a template with a spec goes through the formatter


def _number(value: object) -> Decimal | None:
    """The number a value shows ("5", 5, "1.5", "1,5"), or None if it shows none."""
    text = str(value).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _is_fraction(number: Decimal) -> bool:
    """Written with a fractional part ("1.5", also "1.0"): such numbers agree differently."""
    exponent = number.as_tuple().exponent
    return isinstance(exponent, int) and exponent < 0


def russian_plural(number: Decimal) -> int:
    """0: 1, 21, 101 (день); 1: 2-4, 22-24 and fractions (дня); 2: 0, 5-20, 25, 111 (дней)."""
    if _is_fraction(number):
        return 1
    n = abs(int(number))
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


def english_plural(number: Decimal) -> int:
    """0: exactly 1 (day); 1: everything else, fractions too (0 days, 1.5 days)."""
    return 0 if not _is_fraction(number) and abs(number) == 1 else 1


# language -> (how many forms its templates give, which form a number takes)
PLURAL_RULES: dict[str, tuple[int, Callable[[Decimal], int]]] = {
    "ru": (3, russian_plural),
    "en": (2, english_plural),
}


def plural_form(language: str, value: object) -> int:
    """Which of the language's forms goes with `value`; a value that is no number: the last."""
    forms, rule = PLURAL_RULES[language]
    number = _number(value)
    return forms - 1 if number is None else rule(number)


class _Formatter(string.Formatter):
    """str.format plus the `plural:` spec, for one language."""

    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> Any:
        if format_spec in NUMBER_SPECS:
            places, group_from = NUMBER_SPECS[format_spec]
            return formatting.number(value, self.language, places, group_from)
        if format_spec.startswith(MINUTES_SPEC):  # seconds shown as minutes
            shown_minutes = formatting.minutes(value)
            if shown_minutes is None:
                return SECONDS[self.language].format(seconds=value)
            value, format_spec = str(shown_minutes), PLURAL_SPEC + format_spec[len(MINUTES_SPEC) :]
        if not format_spec.startswith(PLURAL_SPEC):
            return super().format_field(value, format_spec)
        forms = format_spec.removeprefix(PLURAL_SPEC).split("|")
        expected = PLURAL_RULES[self.language][0]
        if len(forms) != expected:
            raise ValueError(f"{format_spec!r}: {self.language} needs {expected} forms")
        shown = formatting.number(value, self.language)  # 1,5 часа; 60 000 символов
        return f"{shown} {forms[plural_form(self.language, value)]}"


class Texts:
    """The texts of one language; `texts("key", name=...)` escapes every value for HTML."""

    __slots__ = ("_catalog", "_formatted", "_formatter", "language")

    def __init__(self, language: str) -> None:
        self.language = language if language in CATALOGS else DEFAULT_LANGUAGE
        self._catalog = CATALOGS[self.language]
        self._formatter = _Formatter(self.language)
        self._formatted = {key for key, text in self._catalog.items() if _SPEC.search(text)}

    def __call__(self, key: str, **values: Any) -> str:
        template = self._catalog[key]
        if not values:
            return template
        escaped = {
            name: value if isinstance(value, Raw) else html.escape(self._shown(value), quote=False)
            for name, value in values.items()
        }
        if key in self._formatted:
            return self._formatter.vformat(template, (), escaped)
        return template.format(**escaped)

    def _shown(self, value: object) -> str:
        if isinstance(value, Moment):  # «завтра в 00:00 МСК», in this language
            return formatting.moment(value.timestamp, value.zone, self.language)
        return str(value)


_BY_LANGUAGE = {language: Texts(language) for language in CATALOGS}


def get_texts(language: str) -> Texts:
    return _BY_LANGUAGE.get(language) or _BY_LANGUAGE[DEFAULT_LANGUAGE]


# The latest moment a date can show (a day inside year 9999, whatever the zone).
LATEST_MOMENT = dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp()


class Moment(str):
    """A moment given to a text: shown there in the reader's language and relative to
    today (`formatting.moment`); as a plain string, 28.12.2026 15:30 MSK."""

    timestamp: float
    zone: ZoneInfo

    def __new__(cls, timestamp: float, zone: ZoneInfo) -> Moment:
        local = dt.datetime.fromtimestamp(timestamp, zone)
        made = super().__new__(cls, f"{local:%d.%m.%Y %H:%M} {local.tzname()}")
        made.timestamp, made.zone = timestamp, zone
        return made


def format_moment(timestamp: float, zone: ZoneInfo) -> Moment:
    """A moment as users read it: «завтра в 00:00 МСК», 28.12.2026 15:30 MSK. A moment
    past year 9999 (a plan saved with absurd days) shows as 30.12.9999 instead of
    breaking the screen."""
    if not timestamp <= LATEST_MOMENT:  # also NaN
        timestamp = LATEST_MOMENT
    return Moment(timestamp, zone)
