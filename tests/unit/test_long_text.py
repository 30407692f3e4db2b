"""Long admin texts into Telegram messages: at line breaks, tags balanced, totals kept.

Each part is checked with the Bot API emulator's own HTML parser, which refuses what
Telegram refuses (an unclosed tag, a bare `&`, a text over 4096 UTF-16 units)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.chat.formatting import (
    fit_screen,
    markdown_to_html,
    split_html,
    split_lines,
    utf16_length,
)
from tests.stubs.telegram_text import parse_html

LIMIT = 4096


def plain(part: str) -> str:
    """The text Telegram shows for a part; raises as Telegram would refuse it."""
    assert utf16_length(part) <= LIMIT
    return shown(part)


def shown(html: str) -> str:
    text, _ = parse_html(html, strict=True)
    return text


def lines_of(texts: list[str]) -> list[str]:
    return [line for text in texts for line in text.splitlines() if line]


def words(text: str) -> list[str]:
    return text.split()


def test_a_short_text_is_one_message_as_it_is() -> None:
    assert split_lines("<b>Платежи</b>\nОжидают: 0") == ["<b>Платежи</b>\nОжидают: 0"]
    assert split_lines("") == []


def test_lines_stay_whole_and_nothing_is_lost() -> None:
    lines = [f"<code>pay-{n:04}</code> Stars — 580 ⭐, {n} &amp; co" for n in range(400)]
    text = "<b>Платежи</b>\n" + "\n".join(lines) + "\n\nИтого: 232000 ⭐"
    parts = split_lines(text)
    assert len(parts) > 2
    texts = [plain(part) for part in parts]
    assert lines_of(texts) == lines_of([shown(text)])
    for part in texts:  # every part starts and ends with a whole line
        assert part.splitlines()[0].startswith(("Платежи", "pay-"))
        assert part.splitlines()[-1].endswith(("co", "⭐"))
    assert texts[-1].endswith("Итого: 232000 ⭐")


@pytest.mark.parametrize(
    "unit", ["x&amp;y ", "ab&lt;c&gt;", "<code>a&amp;b</code> ", "q" * 50 + "&quot;", "слово "]
)
@pytest.mark.parametrize("offset", range(0, 12, 3))
def test_a_line_longer_than_a_message_is_cut_safely(unit: str, offset: int) -> None:
    text = "z" * offset + unit * (9000 // len(unit))
    parts = split_lines(text)
    assert len(parts) >= 2
    assert "".join(words(" ".join(plain(part) for part in parts))) == "".join(words(shown(text)))


def test_a_word_longer_than_a_message_is_cut_between_characters() -> None:
    parts = split_lines("<b>" + "ё" * 9000 + "</b>")
    assert [len(plain(part)) for part in parts] == [len(part) - 7 for part in parts]
    assert sum(len(plain(part)) for part in parts) == 9000


def test_tags_open_across_a_cut_are_closed_and_opened_again() -> None:
    quote = (
        '<blockquote expandable><a href="https://t.me/x">' + "строка\n" * 1500 + "</a></blockquote>"
    )
    parts = split_lines("<b>Отчёт</b>\n" + quote)
    assert len(parts) >= 3
    for part in parts[1:]:
        assert part.startswith('<blockquote expandable><a href="https://t.me/x">')
        assert part.endswith("</a></blockquote>")
        plain(part)


def test_length_counts_utf16_units_as_telegram_does() -> None:
    parts = split_lines("\n".join("😀" * 100 for _ in range(50)))
    assert all(utf16_length(part) <= LIMIT for part in parts)
    assert sum(part.count("😀") for part in parts) == 5000


def _render(shown: Sequence[str], left_out: int) -> str:
    more = f"\n…и ещё {left_out} — ниже" if left_out else ""
    return "<b>Ожидают</b>\n" + "\n".join(shown) + more + "\n\n<b>Итого</b>: 100 ₽"


def test_a_screen_keeps_its_totals_and_sends_what_does_not_fit() -> None:
    items = [f"⏳ <code>{n:04}</code> СБП 675 ₽ — пользователь {n}" for n in range(300)]
    screen = fit_screen(_render, items)
    text = plain(screen.text)
    assert text.endswith("Итого: 100 ₽")
    listed = [line for line in text.splitlines() if line.startswith("⏳")]
    assert f"…и ещё {len(items) - len(listed)} — ниже" in text
    assert utf16_length(_render(items[: len(listed) + 1], len(items) - len(listed) - 1)) > LIMIT
    rest = [line for part in screen.rest for line in plain(part).splitlines()]
    assert listed + rest == [plain(item) for item in items]  # every item once, in order


def test_a_screen_that_fits_is_sent_as_it_is() -> None:
    screen = fit_screen(_render, ["one", "two"])
    assert screen == fit_screen(_render, ["one", "two"], limit=10_000)
    assert screen.text == _render(["one", "two"], 0) and screen.rest == []


def test_an_answer_with_a_paragraph_longer_than_a_message_keeps_its_formatting() -> None:
    """The library's splitter cut such a paragraph inside "&amp;", Telegram refused the
    part and the whole answer fell back to plain text."""
    html = markdown_to_html("**Сравним** A & B: " + "A & B, " * 1200)
    parts = split_html(html)
    assert len(parts) >= 2
    assert "".join(words(" ".join(plain(part) for part in parts))) == "".join(words(shown(html)))
