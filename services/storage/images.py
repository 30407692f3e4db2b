"""Pictures users send, kept beside a conversation's memory: ids, MIME types, suffixes."""

from __future__ import annotations

import re
import secrets

IMAGE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
IMAGE_SUFFIXES = {mime: suffix for suffix, mime in IMAGE_TYPES.items()}
IMAGE_ID = re.compile(r"^[0-9a-f]{16}\.(jpg|png|webp|gif)$")


def new_image_id(mime_type: str) -> str:
    """A fresh id; its suffix names the type (JPEG for a type not listed)."""
    return f"{secrets.token_hex(8)}.{IMAGE_SUFFIXES.get(mime_type, 'jpg')}"


def image_type(image_id: str) -> str | None:
    """The MIME type an id names; None for anything that is not one of our ids."""
    match = IMAGE_ID.match(image_id)
    return IMAGE_TYPES[match.group(1)] if match is not None else None
