"""User-facing texts: Russian by default, English for English-speaking users."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from zoneinfo import ZoneInfo

from texts import en, ru

CATALOGS: dict[str, dict[str, str]] = {"ru": ru.TEXTS, "en": en.TEXTS}
DEFAULT_LANGUAGE = "ru"


class Raw(str):
    """A value that is already HTML and must not be escaped again."""

    __slots__ = ()


def language_for(language_code: str | None) -> str:
    """Telegram's language_code -> one of our languages."""
    return "en" if language_code and language_code.lower().startswith("en") else "ru"


class Texts:
    """The texts of one language; `texts("key", name=...)` escapes every value for HTML."""

    __slots__ = ("_catalog", "language")

    def __init__(self, language: str) -> None:
        self.language = language if language in CATALOGS else DEFAULT_LANGUAGE
        self._catalog = CATALOGS[self.language]

    def __call__(self, key: str, **values: Any) -> str:
        template = self._catalog[key]
        if not values:
            return template
        escaped = {
            name: value if isinstance(value, Raw) else html.escape(str(value), quote=False)
            for name, value in values.items()
        }
        return template.format(**escaped)


_BY_LANGUAGE = {language: Texts(language) for language in CATALOGS}


def get_texts(language: str) -> Texts:
    return _BY_LANGUAGE.get(language) or _BY_LANGUAGE[DEFAULT_LANGUAGE]


def format_moment(timestamp: float, zone: ZoneInfo) -> str:
    """A moment as users read it: 28.12.2026 15:30 MSK."""
    moment = dt.datetime.fromtimestamp(timestamp, zone)
    return f"{moment:%d.%m.%Y %H:%M} {moment.tzname()}"
