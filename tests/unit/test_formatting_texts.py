"""Markdown rendering, splitting, texts, secret masking."""

from __future__ import annotations

import logging
import re
import string
from html.parser import HTMLParser

from services.chat.formatting import markdown_to_html, split_html, split_plain
from services.log_setup import SecretsFilter
from texts import CATALOGS, Raw, get_texts, language_for

ALLOWED = {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg-spoiler", "strong", "em"}


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.unknown: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in ALLOWED:
            self.unknown.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()


def assert_valid_telegram_html(html: str) -> None:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    assert parser.stack == [] and parser.unknown == []
    assert not re.search(r"&(?!(lt|gt|amp|quot|#\d+);)", html)


def test_markdown_becomes_telegram_html() -> None:
    html = markdown_to_html("**bold** _it_ `x<y` [link](https://e.com)\n```py\na & b\n```")
    assert "<b>bold</b>" in html and "<i>it</i>" in html
    assert "<code>x&lt;y</code>" in html
    assert '<a href="https://e.com">link</a>' in html
    assert "a &amp; b" in html
    assert_valid_telegram_html(html)


def test_unfinished_code_block_is_closed_while_streaming() -> None:
    html = markdown_to_html("Here:\n```python\nprint(1)\n")
    assert_valid_telegram_html(html)
    assert "print(1)" in html


def test_long_answer_splits_into_valid_parts_without_breaking_code() -> None:
    answer = "Intro paragraph.\n\n" * 200 + "```py\n" + "x = 1  # <tag> & more\n" * 400 + "```\nEnd"
    parts = split_html(markdown_to_html(answer))
    assert len(parts) > 2
    for part in parts:
        assert len(part) <= 4096
        assert_valid_telegram_html(part)
    assert parts[-1].endswith("End")


def test_emoji_heavy_answer_fits_telegrams_utf16_limit() -> None:
    parts = split_html(markdown_to_html("😀" * 5000))
    assert len(parts) >= 3
    assert all(len(part.encode("utf-16-le")) // 2 <= 4096 for part in parts)
    assert "".join(parts).count("😀") == 5000
    plain = split_plain("😀" * 5000)
    assert all(len(part.encode("utf-16-le")) // 2 <= 4096 for part in plain)


def test_plain_split_prefers_line_breaks() -> None:
    text = "\n".join(f"line {i} " + "w" * 50 for i in range(300))
    parts = split_plain(text)
    assert all(len(part) <= 4096 for part in parts)
    assert all(part.split("\n")[0].startswith("line ") for part in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def _placeholders(template: str) -> set[str]:
    """Field names, also of fields with a spec such as {days:plural:day|days}."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    ru, en = CATALOGS["ru"], CATALOGS["en"]
    assert ru.keys() == en.keys()
    for key in ru:
        assert _placeholders(ru[key]) == _placeholders(en[key]), key


def test_texts_escape_values_and_pick_language() -> None:
    assert (
        language_for("en-US") == "en" and language_for("de") == "ru" and language_for(None) == "ru"
    )
    text = get_texts("en")("model_chosen", model="<script>&")
    assert "&lt;script&gt;&amp;" in text
    assert "<u>x</u>" in get_texts("ru")("model_chosen", model=Raw("<u>x</u>"))


def test_secrets_filter_masks_messages_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s", ("123:SECRET",), None)
    try:
        raise RuntimeError("failed with 123:SECRET")
    except RuntimeError as error:
        record.exc_info = (RuntimeError, error, error.__traceback__)
    SecretsFilter(["123:SECRET"]).filter(record)
    assert "SECRET" not in record.getMessage()
    assert record.exc_text is not None and "SECRET" not in record.exc_text
