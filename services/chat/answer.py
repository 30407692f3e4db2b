"""What an answer is made of, and where it goes while it is generated.

A model's answer arrives as text pieces and, from models that make them, whole pictures
and sounds. The chat service hands each to an `AnswerSink` as it comes (the Telegram edge
implements one); each part also says what it used in the catalog's cost units, so a new
kind of answer is a new part, a new sink method and a new unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from services.catalog import Unit


class AnswerSink(Protocol):
    """Receives an answer while it is generated; knows nothing of where it is shown."""

    async def add_text(self, delta: str) -> None:
        """The next piece of the answer's text."""

    async def add_image(self, data: bytes, mime_type: str) -> None:
        """A whole picture of the answer."""

    async def add_audio(self, data: bytes, mime_type: str) -> None:
        """A whole sound of the answer (speech, for a spoken answer)."""


@dataclass(slots=True, frozen=True)
class ImagePart:
    """A picture the model made."""

    data: bytes
    mime_type: str

    @property
    def units(self) -> Mapping[Unit, float]:
        return {Unit.IMAGES: 1}

    async def deliver(self, sink: AnswerSink) -> None:
        await sink.add_image(self.data, self.mime_type)


@dataclass(slots=True, frozen=True)
class AudioPart:
    """A sound the model made: its length, and the characters spoken when it reads text
    aloud (providers bill speech by either)."""

    data: bytes
    mime_type: str
    seconds: float
    spoken_chars: int = 0

    @property
    def units(self) -> Mapping[Unit, float]:
        return {Unit.AUDIO_SECONDS: self.seconds, Unit.SPOKEN_CHARS: self.spoken_chars}

    async def deliver(self, sink: AnswerSink) -> None:
        await sink.add_audio(self.data, self.mime_type)


MediaPart = ImagePart | AudioPart
