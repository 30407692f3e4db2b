"""Numbers, money and moments as each language writes them (texts/formatting.py) and
through the texts' specs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from texts import format_moment, formatting, get_texts

MSK = ZoneInfo("Europe/Moscow")
NOW = dt.datetime(2026, 12, 5, 15, 0, tzinfo=MSK).timestamp()


@pytest.mark.parametrize(
    ("value", "language", "places", "group_from", "expected"),
    [
        (1199, "ru", None, 4, "1\u00a0199"),
        (1199, "en", None, 4, "1,199"),
        (3660, "ru", None, 5, "3660"),  # a count of four digits stays whole
        (60000, "ru", None, 5, "60\u00a0000"),
        ("1524.75", "ru", 2, 4, "1\u00a0524,75"),
        ("1524.75", "en", 2, 4, "1,524.75"),
        (-0.28, "ru", 2, 4, "\u22120,28"),  # a real minus
        (-0.28, "en", 2, 4, "-0.28"),
        ("-0.001", "ru", 2, 4, "0,00"),  # no minus before a zero
        (1.5, "ru", None, 5, "1,5"),
        ("abc", "ru", None, 5, "abc"),
    ],
)
def test_numbers(
    value: object, language: str, places: int | None, group_from: int, expected: str
) -> None:
    assert formatting.number(value, language, places, group_from) == expected


def test_moments_are_relative_today_and_tomorrow_and_say_msk_in_russian() -> None:
    today = dt.datetime(2026, 12, 5, 18, 30, tzinfo=MSK).timestamp()
    midnight = dt.datetime(2026, 12, 6, 0, 0, tzinfo=MSK).timestamp()
    later = dt.datetime(2026, 12, 28, 15, 30, tzinfo=MSK).timestamp()
    assert formatting.moment(today, MSK, "ru", NOW) == "сегодня в 18:30 МСК"
    assert formatting.moment(midnight, MSK, "ru", NOW) == "завтра в 00:00 МСК"
    assert formatting.moment(later, MSK, "ru", NOW) == "28.12.2026 15:30 МСК"
    assert formatting.moment(midnight, MSK, "en", NOW) == "tomorrow at 00:00 MSK"
    assert formatting.moment(later, MSK, "en", NOW) == "Dec 28, 2026, 15:30 MSK"
    assert str(format_moment(later, MSK)) == "28.12.2026 15:30 MSK"  # outside the texts


def test_the_texts_apply_them() -> None:
    ru, en = get_texts("ru"), get_texts("en")
    assert ru("btn_plan_price", plan="GPT Pro", price=1199) == "GPT Pro — 1\u00a0199\u00a0₽"
    assert en("btn_plan_price", plan="GPT Pro", price=1199).startswith("GPT Pro")
    assert "1,199" in en("btn_plan_price", plan="GPT Pro", price=1199)
    assert "60\u00a0000 символов" in ru("profile_left_chars", left=1, limit=60000)
    voice = ru("profile_left_voice", left=600, limit=600)
    assert "осталось 10 минут, в день — 10 минут" in voice and "секунд" not in voice
    assert "45\u00a0сек." in ru("voice_too_long", limit=45)
    assert "5 minutes" in en("voice_too_long", limit=300)
    assert "звёзды" in ru("btn_pay_stars", stars=580).lower() and "⭐" in ru(
        "btn_pay_stars", stars=580
    )
