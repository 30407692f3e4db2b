"""Telegram's text rules: HTML parse mode, entity offsets in UTF-16, trimming.

Behaviour follows TDLib's `parse_html` and `fix_formatted_text` (what the Bot API
server runs), including their error messages and byte offsets. One deliberate
difference: with `strict=True` a bare `&` that starts no entity is refused, as the
Bot API documentation demands, while the real server would keep it literally.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

Entity = dict[str, Any]

HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = frozenset(" \t\r\n\v\f")
_SPECIAL = re.compile(r"[<&]")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")
_HEX = re.compile(r"[0-9A-Fa-f]*")
_DEC = re.compile(r"[0-9]*")
_ALPHA = re.compile(r"[A-Za-z]*")
# Removed by Telegram (offsets shift): CR, U+2028..U+202E, some combining vertical lines.
_REMOVED = re.compile("[\r\u2028-\u202e\u030a\u0333\u033f]")
# Replaced by a space (same length): other C0 controls except tab and newline.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Entities that carry data and survive whitespace-only content.
_HIDDEN_DATA = frozenset({"text_link", "text_mention", "custom_emoji"})


class EntityParseError(ValueError):
    """Text that Telegram refuses; `str(error)` is the Bot API description."""


def utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class _Utf16Index:
    """Maps UTF-16 offsets to `str` indexes (identity when all characters are BMP)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None
        if utf16_len(text) != len(text):  # some characters take two code units
            starts, offset = [], 0
            for ch in text:
                starts.append(offset)
                offset += 2 if ord(ch) > 0xFFFF else 1
            starts.append(offset)
            self._starts = starts

    def index(self, offset: int) -> int:
        if self._starts is None:
            return offset
        return bisect_left(self._starts, offset)

    def slice(self, offset: int, length: int) -> str:
        return self.text[self.index(offset) : self.index(offset + length)]


# HTML -----------------------------------------------------------------------------------


def _decode_reference(text: str, pos: int) -> tuple[str, int] | None:
    """`&...` at `pos`: (character, end) for &lt; &gt; &amp; &quot; and numeric ones.

    The `;` is optional, as in TDLib; anything else is not a reference (None).
    """
    if text.startswith("&#", pos):
        hexadecimal = text.startswith("&#x", pos)
        start = pos + (3 if hexadecimal else 2)
        match = (_HEX if hexadecimal else _DEC).match(text, start)
        assert match is not None
        digits, end = match.group(), match.end()
        if not digits or end - pos >= 10:
            return None
        code = int(digits, 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF:
            return None
        char = chr(code)
    else:
        match = _ALPHA.match(text, pos + 1)
        assert match is not None
        named = _NAMED.get(match.group())
        if named is None:
            return None
        char, end = named, match.end()
    return char, end + 1 if text.startswith(";", end) else end


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int  # UTF-16 offset in the result
    result_index: int  # index into the result parts, for <a> without href


class _HtmlParser:
    def __init__(self, source: str, strict: bool) -> None:
        self.src = source
        self.strict = strict
        self.parts: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[Entity] = []
        self.surrogate = False  # a numeric reference decoded to half a surrogate pair

    def at(self, i: int) -> str:
        return self.src[i] if i < len(self.src) else ""

    def is_space(self, i: int) -> bool:
        char = self.at(i)
        return char == "" or char in _SPACES  # the end reads as NUL, a space to TDLib

    def byte(self, i: int) -> int:
        return len(self.src[:i].encode())

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.utf16 += utf16_len(text)

    def fail(self, message: str) -> EntityParseError:
        return EntityParseError(f"Bad Request: can't parse entities: {message}")

    def run(self) -> tuple[str, list[Entity]]:
        src, i = self.src, 0
        while i < len(src):
            match = _SPECIAL.search(src, i)
            stop = match.start() if match else len(src)
            if stop > i:
                self.emit(src[i:stop])
                i = stop
                continue
            if src[i] == "&":
                decoded = _decode_reference(src, i)
                if decoded is not None:
                    self.emit(decoded[0])
                    self.surrogate |= 0xD800 <= ord(decoded[0]) <= 0xDFFF
                    i = decoded[1]
                    continue
                if self.strict:
                    raise self.fail(
                        f"Character '&' at byte offset {self.byte(i)} must be escaped as &amp;"
                    )
                self.emit("&")
                i += 1
                continue
            i = self.end_tag(i) if self.at(i + 1) == "/" else self.start_tag(i)
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        text = "".join(self.parts)
        if self.surrogate:
            raise self.fail(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        return text, sort_entities(self.entities)

    def start_tag(self, begin: int) -> int:
        i = begin + 1
        while not self.is_space(i) and self.at(i) != ">":
            i += 1
        if self.at(i) == "":
            raise self.fail(f"Unclosed start tag at byte offset {self.byte(begin)}")
        name = self.src[begin + 1 : i].lower()
        if name not in HTML_TAGS:
            raise self.fail(f'Unsupported start tag "{name}" at byte offset {self.byte(begin)}')
        argument = ""
        while self.at(i) != ">":
            while self.at(i) and self.is_space(i):
                i += 1
            if self.at(i) == ">":
                break
            attr_begin = i
            while not self.is_space(i) and self.at(i) not in ("=", ">", "/", '"', "'"):
                i += 1
            attribute = self.src[attr_begin:i]
            if not attribute:
                raise self.fail(
                    f'Empty attribute name in the tag "{name}" at byte offset {self.byte(begin)}'
                )
            while self.at(i) and self.is_space(i):
                i += 1
            if self.at(i) != "=":  # an attribute without a value
                if self.at(i) == "":
                    raise self.fail(
                        f'Unclosed start tag "{name}" at byte offset {self.byte(begin)}'
                    )
                if name == "blockquote" and attribute == "expandable":
                    argument = "1"
                continue
            i += 1
            while self.at(i) and self.is_space(i):
                i += 1
            if self.at(i) == "":
                raise self.fail(f'Unclosed start tag "{name}" at byte offset {self.byte(begin)}')
            value, i = self.attribute_value(i)
            if self.at(i) == "":
                raise self.fail(f"Unclosed start tag at byte offset {self.byte(begin)}")
            argument = _tag_argument(name, attribute, value, argument)
        if name == "span" and argument != "spoiler":
            raise self.fail(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte(begin)}'
            )
        self.stack.append(_OpenTag(name, argument, self.utf16, len(self.parts)))
        return i + 1

    def attribute_value(self, i: int) -> tuple[str, int]:
        quote = self.at(i)
        if quote not in ('"', "'"):
            match = _NAME_TOKEN.match(self.src, i)
            assert match is not None
            end = match.end()
            if not self.is_space(end) and self.at(end) != ">":
                raise self.fail(f"Unexpected end of name token at byte offset {self.byte(i)}")
            return match.group().lower(), end
        i += 1
        value: list[str] = []
        while self.at(i) and self.at(i) != quote:
            if self.at(i) == "&" and (decoded := _decode_reference(self.src, i)) is not None:
                value.append(decoded[0])
                i = decoded[1]
                continue
            value.append(self.src[i])
            i += 1
        if self.at(i) == quote:
            i += 1
        return "".join(value), i

    def end_tag(self, begin: int) -> int:
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {self.byte(begin)}")
        i = begin + 2
        while not self.is_space(i) and self.at(i) != ">":
            i += 1
        name = self.src[begin + 2 : i].lower()
        while self.at(i) and self.is_space(i):
            i += 1
        if self.at(i) != ">":
            raise self.fail(f"Unclosed end tag at byte offset {self.byte(begin)}")
        open_tag = self.stack[-1]
        if name and name != open_tag.name:
            raise self.fail(
                f"Unmatched end tag at byte offset {self.byte(begin)}, "
                f'expected "</{open_tag.name}>", found "</{name}>"'
            )
        if self.utf16 > open_tag.offset:
            self.add_entity(open_tag, self.utf16 - open_tag.offset)
        self.stack.pop()
        return i + 1

    def add_entity(self, tag: _OpenTag, length: int) -> None:
        entity: Entity = {"type": "", "offset": tag.offset, "length": length}
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (tag.offset, length)
        if tag.name in _SIMPLE_TYPES:
            entity["type"] = _SIMPLE_TYPES[tag.name]
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise self.fail("Invalid custom emoji identifier specified")
            entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
        elif tag.name == "a":
            url = tag.argument or "".join(self.parts[tag.result_index :])
            url = _checked_link(url)
            if not url:
                return
            entity.update(type="text_link", url=url)
        elif tag.name == "pre":
            if last is not None and same_span and last["type"] == "code" and "language" in last:
                last["type"] = "pre"
                return
            entity["type"] = "pre"
        elif tag.name == "code":
            if last is not None and same_span and last["type"] == "pre" and tag.argument:
                last["language"] = tag.argument
                return
            entity["type"] = "code"
            if tag.argument:
                entity["language"] = tag.argument
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
        else:  # tg-time: no entity kept here
            return
        self.entities.append(entity)


def _tag_argument(tag: str, attribute: str, value: str, current: str) -> str:
    if (tag, attribute) in (("a", "href"), ("tg-emoji", "emoji-id")):
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag == "blockquote" and attribute == "expandable":
        return "1"
    return current


def _checked_link(url: str) -> str:
    """A simplified `LinkManager::get_checked_link`: add the scheme, refuse junk."""
    url = url.strip()
    if not url or any(ch in _SPACES for ch in url):
        return ""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if url.startswith("tg:"):
            return url
        scheme, rest = "http", url
    scheme = scheme.lower()
    if scheme not in ("http", "https", "tg", "ton", "tonsite"):
        return ""
    if scheme in ("http", "https") and "/" not in rest and "?" not in rest and "#" not in rest:
        rest += "/"
    return f"{scheme}://{rest}"


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[Entity]]:
    """Plain text and entities (UTF-16 offsets) of Telegram HTML; raises EntityParseError."""
    if "<" not in text and "&" not in text:
        return text, []
    return _HtmlParser(text, strict).run()


# Entities -------------------------------------------------------------------------------

_TYPE_PRIORITY = {
    "mention": 50,
    "hashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "bold": 90,
    "italic": 91,
    "code": 20,
    "pre": 11,
    "text_link": 49,
    "text_mention": 49,
    "cashtag": 50,
    "phone_number": 50,
    "underline": 92,
    "strikethrough": 93,
    "blockquote": 0,
    "expandable_blockquote": 0,
    "spoiler": 94,
    "custom_emoji": 99,
}


def sort_entities(entities: list[Entity]) -> list[Entity]:
    """Telegram's order: by offset, longer first, then by type priority."""
    return sorted(
        entities,
        key=lambda e: (e["offset"], -e["length"], _TYPE_PRIORITY.get(e["type"], 50)),
    )


def check_entities(text: str, entities: list[Entity]) -> None:
    """Explicit `entities`: offsets and lengths must lie inside the text."""
    size = utf16_len(text)
    for entity in entities:
        offset, length = int(entity.get("offset", -1)), int(entity.get("length", -1))
        if offset < 0 or length < 0:
            raise EntityParseError(
                f"Bad Request: can't parse entities: Receive an entity with incorrect offset {offset}"
            )
        if offset > size:
            raise EntityParseError(
                "Bad Request: can't parse entities: "
                f"Entity begins after the end of the text at UTF-16 offset {offset}"
            )
        if offset + length > size:
            raise EntityParseError(
                f"Bad Request: can't parse entities: Entity beginning at UTF-16 offset {offset} "
                f"ends after the end of the text at UTF-16 offset {offset + length}"
            )


def normalize(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """What Telegram stores: controls as spaces, some characters removed, entities that
    hold only whitespace dropped, the text trimmed of spaces and newlines.

    Returns ("", []) for a text that is whitespace only (Telegram: "text is empty").
    """
    entities = [dict(e) for e in entities if int(e.get("length", 0)) > 0]
    if _CONTROLS.search(text):
        text = _CONTROLS.sub(" ", text)
    if _REMOVED.search(text):
        text, entities = _remove_characters(text, entities)
    index = _Utf16Index(text) if entities else None
    kept: list[Entity] = []
    for entity in entities:
        assert index is not None
        if entity["type"] not in _HIDDEN_DATA:
            content = index.slice(entity["offset"], entity["length"])
            lead = len(content) - len(content.lstrip(" \n"))  # spaces and \n: one unit each
            entity["offset"] += lead
            entity["length"] -= lead
            if entity["length"] <= 0:
                continue
        kept.append(entity)
    # rtrim
    stripped = text.rstrip(" \n")
    if not stripped:
        return "", []
    end = utf16_len(stripped)
    result: list[Entity] = []
    for entity in kept:
        if entity["offset"] >= end:
            continue
        entity["length"] = min(entity["length"], end - entity["offset"])
        result.append(entity)
    # ltrim, up to the first entity
    first = min((e["offset"] for e in result), default=end)
    lead = min(len(stripped) - len(stripped.lstrip(" \n")), first)
    if lead:
        stripped = stripped[lead:]
        for entity in result:
            entity["offset"] -= lead
    return stripped, sort_entities(result)


def _remove_characters(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    removed: list[int] = []  # UTF-16 offsets of removed characters (all BMP)
    offset = 0
    kept: list[str] = []
    for char in text:
        if _REMOVED.match(char):
            removed.append(offset)
        else:
            kept.append(char)
        offset += 2 if ord(char) > 0xFFFF else 1

    def shift(position: int) -> int:
        return position - bisect_left(removed, position)

    moved = []
    for entity in entities:
        start, stop = shift(entity["offset"]), shift(entity["offset"] + entity["length"])
        if stop > start:
            moved.append({**entity, "offset": start, "length": stop - start})
    return "".join(kept), moved
