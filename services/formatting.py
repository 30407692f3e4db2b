"""Model Markdown -> Telegram HTML, and splitting long answers into messages.

Conversion and tag-aware splitting come from `chatgpt-md-converter`, which keeps
code blocks and tags balanced across the parts it cuts.
"""

from __future__ import annotations

from chatgpt_md_converter import split_html_for_telegram, telegram_format

TELEGRAM_TEXT_LIMIT = 4096


def markdown_to_html(markdown: str) -> str:
    """Render a (possibly unfinished) Markdown answer as Telegram HTML."""
    if markdown.count("```") % 2:  # a code block still streaming: close it for now
        markdown += "\n```"
    return str(telegram_format(markdown)).strip()


def utf16_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji can take two)."""
    return len(text.encode("utf-16-le")) // 2


def split_html(html: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split HTML into parts of at most `limit` UTF-16 units with balanced tags."""
    if utf16_length(html) <= limit:
        return [html]
    chunk = limit
    while True:
        parts = [str(p).strip() for p in split_html_for_telegram(html, max_length=chunk)]
        parts = [part for part in parts if part]
        if all(utf16_length(part) <= limit for part in parts) or chunk < limit // 4:
            return parts
        chunk = chunk * 2 // 3  # wide characters: cut smaller pieces


def split_plain(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split plain text at paragraph, then line, then word boundaries."""
    chunk = limit
    parts = _split_plain(text, chunk)
    while any(utf16_length(part) > limit for part in parts):
        chunk = chunk * 2 // 3  # wide characters: cut smaller pieces
        parts = _split_plain(text, chunk)
    return parts


def _split_plain(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
