"""Pictures in a conversation: which are sent with a request, and what they count as.

A picture is kept once (Storage.save_image) and named by its id in the memory. The
newest few of the memory go to a model that sees pictures, as OpenAI-style `image_url`
data URLs; older ones, and every one for a model that does not, stay a short note in
the text, so the model knows a picture was there.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from services.catalog import Model
from services.models import ChatTurn

MAX_PROMPT_IMAGES = 4  # the newest pictures of the memory sent with a request
# What a picture counts as, in characters, in the limits and the memory's budget: about
# what a provider bills for a phone photo (≈ 800 tokens at 2.5 characters a token).
IMAGE_CHARS = 2000
IMAGE_NOTE = "[image]"  # in the text of a turn whose picture is not sent


@dataclass(slots=True, frozen=True)
class Prompt:
    """What a model is sent: the turns, the pictures' data URLs by id, and the size
    counted against the user's limits."""

    turns: list[ChatTurn]
    images: Mapping[str, str]
    chars: int


def images_to_send(turns: list[ChatTurn], model: Model) -> list[str]:
    """Ids of the newest pictures in `turns` a model is sent (none for a blind model)."""
    if not model.vision:
        return []
    newest = [image for turn in reversed(turns) for image in reversed(turn.images)]
    return newest[:MAX_PROMPT_IMAGES]


def turn_chars(turn: ChatTurn) -> int:
    return len(turn.content) + IMAGE_CHARS * len(turn.images)


def sent_chars(turns: list[ChatTurn], images: list[str]) -> int:
    """The characters a request counts as: its text and memory, and the pictures sent."""
    return sum(len(turn.content) for turn in turns) + IMAGE_CHARS * len(images)


def data_url(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def message_content(turn: ChatTurn, images: Mapping[str, str]) -> str | list[dict[str, object]]:
    """A turn as the chat API takes it: plain text, or text and image parts."""
    urls = [images[image] for image in turn.images if image in images]
    text = turn.content
    if len(urls) < len(turn.images):  # some pictures stay a note
        text = f"{IMAGE_NOTE} {text}".strip()
    if not urls:
        return text
    parts: list[dict[str, object]] = [{"type": "text", "text": text}] if text else []
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return parts
