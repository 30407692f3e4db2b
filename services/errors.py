"""The one base of the refusals a service expects to make (a promo code that does not
exist, a check pressed too soon): each names the text the user reads, so handlers let it
pass and one error handler (handlers/errors.py) renders it."""

from __future__ import annotations

from typing import ClassVar


class UserFacingError(Exception):
    """An expected refusal: `text_key` is the text in texts/ (filled with `values`) the
    user reads. `TEXT_KEYS` lists every key a class may name; the texts test checks each
    exists in every language."""

    TEXT_KEYS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, text_key: str, message: str | None = None, **values: object) -> None:
        if text_key not in self.TEXT_KEYS:
            raise ValueError(f"{type(self).__name__} names no text {text_key!r}")
        super().__init__(message if message is not None else text_key)
        self.text_key = text_key
        self.values = values
