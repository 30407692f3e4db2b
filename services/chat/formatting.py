"""Model Markdown -> Telegram HTML, and splitting long texts into messages.

Conversion and tag-aware splitting of answers come from `chatgpt-md-converter`, which
keeps code blocks and tags balanced across the parts it cuts. Admin lists and reports
go through `split_lines`: the library cuts a line longer than a message at any
character, also inside `&amp;` (its whitespace pattern never matches), which Telegram
refuses; `split_lines` cuts at lines, then spaces, never inside a tag or a reference.
An answer with such a line goes through `split_lines` too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
    if any(utf16_length(line) > limit for line in html.split("\n")):
        return split_lines(html, limit)  # the library would cut such a line inside "&amp;"
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


# Admin texts: lines into messages ------------------------------------------------------------
# One piece each: a tag, a character reference, a line break, spaces, a word (long words
# in runs of 64), or any other character.
_PIECE = re.compile(r"<[^<>]*>|&#?\w+;|\n|[ \t]+|[^<&\s]{1,64}|.", re.DOTALL)
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)")
_TAGS = re.compile(r"<[^<>]*>")

Stack = tuple[tuple[str, str], ...]  # the open tags, outermost first: (name, opening tag)


@dataclass(slots=True)
class _Draft:
    """A message being filled: the tags it reopens, its pieces, the tags open after each,
    and its length so far (UTF-16 units)."""

    start: Stack
    pieces: list[str] = field(default_factory=list)
    stacks: list[Stack] = field(default_factory=list)
    length: int = 0

    def __post_init__(self) -> None:
        self.length = utf16_length(self.prefix + "".join(self.pieces))

    @property
    def prefix(self) -> str:
        return "".join(tag for _, tag in self.start)

    def add(self, piece: str, stack: Stack, length: int) -> None:
        self.pieces.append(piece)
        self.stacks.append(stack)
        self.length += length

    def text(self, end: int) -> str:
        stack = self.stacks[end - 1] if end else self.start
        return self.prefix + "".join(self.pieces[:end]) + _closing(stack)


def split_lines(html: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split Telegram HTML into messages of at most `limit` UTF-16 units, at line breaks.

    A line longer than a message is cut at a space, else between characters, never
    inside a tag or a character reference; a tag open at a cut is closed there and
    opened again in the next message. Messages left empty are dropped."""
    if utf16_length(html) <= limit:
        return [html] if html.strip() else []
    messages: list[str] = []
    draft = _Draft(start=())
    stack: Stack = ()
    closings = {stack: 0}  # UTF-16 length of the closing tags of each stack seen
    for piece in _PIECE.findall(html):
        if piece[0] == "<":
            stack = _after(stack, piece)
        if stack not in closings:
            closings[stack] = utf16_length(_closing(stack))
        length = utf16_length(piece) if not piece.isascii() else len(piece)
        while draft.pieces and draft.length + length + closings[stack] > limit:
            cut = _cut_at(draft.pieces)
            messages.append(draft.text(cut))
            draft = _rest(draft, cut)
        draft.add(piece, stack, length)
    messages.append(draft.text(len(draft.pieces)))
    return [message.strip() for message in messages if _TAGS.sub("", message).strip()]


def _after(stack: Stack, piece: str) -> Stack:
    """The tags open after `piece`."""
    match = _TAG.match(piece)
    if match is None or piece.endswith("/>"):
        return stack
    name = match.group(2).lower()
    if not match.group(1):
        return (*stack, (name, piece))
    for index in range(len(stack) - 1, -1, -1):  # the innermost tag of that name closes
        if stack[index][0] == name:
            return stack[:index] + stack[index + 1 :]
    return stack


def _closing(stack: Stack) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _cut_at(pieces: list[str]) -> int:
    """How many pieces the message keeps: up to its last line break, else its last space,
    else all of them (one word longer than a message)."""
    for is_break in (lambda piece: piece == "\n", str.isspace):
        for index in range(len(pieces) - 1, 0, -1):
            if is_break(pieces[index]):
                return index
    return len(pieces)


def _rest(draft: _Draft, cut: int) -> _Draft:
    """The next message: what followed the cut, less the spaces and breaks it starts with."""
    start, pieces, stacks = draft.stacks[cut - 1], draft.pieces[cut:], draft.stacks[cut:]
    while pieces and pieces[0].isspace():
        start, pieces, stacks = stacks[0], pieces[1:], stacks[1:]
    return _Draft(start, pieces, stacks)


# A screen: one message with buttons that keeps its totals ------------------------------------
@dataclass(slots=True, frozen=True)
class Screen:
    """A panel screen: `text` for the message with the buttons, `rest` sent after it."""

    text: str
    rest: list[str]


def fit_screen(
    render: Callable[[Sequence[str], int], str],
    items: Sequence[str],
    limit: int = TELEGRAM_TEXT_LIMIT,
) -> Screen:
    """The screen `render(shown, left_out)` with as many of `items` as fit in one message,
    so that the rest of it (totals) is always whole; the items left out follow, split."""
    low, high = 0, len(items)  # the most items that fit: binary search
    while low < high:
        middle = (low + high + 1) // 2
        if utf16_length(render(items[:middle], len(items) - middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    parts = split_lines(render(items[:low], len(items) - low), limit)  # one, unless huge
    rest = split_lines("\n".join(items[low:]), limit)
    return Screen(text=parts[0] if parts else "", rest=parts[1:] + rest)
