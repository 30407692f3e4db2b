"""A new kind of answer is a new sink method and a new cost unit: a model that draws
hands its picture to the sink whole, and the picture is costed at the catalog's price
per image, beside the tokens, by the same code that costs text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from services.catalog import PRICED_PER, Catalog, Model, Unit
from services.chat.answer import AudioPart, ImagePart
from services.chat.llm import StreamEnd, StreamEvent, TextDelta
from services.models import ChatTurn, Usage, UserRecord
from tests.unit.test_chat import Recorded, ScriptedLLM, make

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
VOICE = b"OggS" + b"\x00" * 64
USD_RUB = 95.0


class DrawingLLM(ScriptedLLM):
    """A model that answers with a few words and a picture (and, when `speaks`, their
    sound), as an image or speech model's stream would."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.speaks = False

    async def stream(
        self,
        model: Model,
        history: list[ChatTurn],
        images: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        self.prompts.append(history)
        yield TextDelta("Вот кот")
        yield ImagePart(PNG, "image/png")
        if self.speaks:
            yield AudioPart(VOICE, "audio/ogg", seconds=30, spoken_chars=7)
        yield StreamEnd(Usage(100, 20))


def priced(catalog: Catalog, **prices: float) -> Catalog:
    """The catalog with GPT-5 Nano priced per picture, per minute of audio or per 1M
    characters spoken, as an image or speech model would be."""
    raw = catalog.model_dump()
    for model in raw["models"]:
        if model["key"] == "gpt-5-nano":
            model.update(prices)
    return Catalog.model_validate(raw)


async def test_a_picture_reaches_the_sink_and_is_costed_per_image(
    tmp_path: Path, catalog: Catalog
) -> None:
    drawing = priced(catalog, price_image=0.04)
    chat, _, _, _ = await make(tmp_path, drawing)
    chat._llm = llm = DrawingLLM(drawing)
    sink = Recorded()
    user = UserRecord(id=8, model_key="gpt-5-nano")

    result = await chat.answer(user, "нарисуй кота", sink)

    assert sink.images == [(PNG, "image/png")] and sink.text == "Вот кот"
    assert result.media == (ImagePart(PNG, "image/png"),) and not result.empty
    model = drawing.models_by_key["gpt-5-nano"]
    assert model.prices[Unit.IMAGES] == 0.04 and PRICED_PER[Unit.IMAGES] == 1
    tokens = 100 * 0.05 / 1_000_000 + 20 * 0.40 / 1_000_000
    day = chat._stats._day()
    assert day.costs["8:gpt-5-nano"] == pytest.approx((tokens + 0.04) * USD_RUB, rel=1e-12)
    # The memory keeps that a picture was sent, so a follow-up knows of it.
    await chat.answer(user, "а теперь собаку", Recorded())
    assert [turn.content for turn in llm.prompts[-1][-3:]] == [
        "нарисуй кота",
        "[image] Вот кот",
        "а теперь собаку",
    ]


async def test_a_unit_without_a_price_adds_nothing_and_sound_is_costed_in_its_units(
    tmp_path: Path, catalog: Catalog
) -> None:
    """A picture from a model priced in tokens only (image tokens are tokens) costs what
    its tokens cost; a sound is costed by its seconds and the characters spoken."""
    chat, _, _, _ = await make(tmp_path, catalog)
    chat._llm = DrawingLLM(catalog)
    await chat.answer(UserRecord(id=9, model_key="gpt-5-nano"), "кот", Recorded())
    tokens = 100 * 0.05 / 1_000_000 + 20 * 0.40 / 1_000_000
    assert chat._stats._day().costs["9:gpt-5-nano"] == pytest.approx(tokens * USD_RUB)

    speaking = priced(catalog, price_audio_minute=0.015, price_spoken=15.0)
    chat, _, _, _ = await make(tmp_path / "speech", speaking)
    chat._llm = llm = DrawingLLM(speaking)
    llm.speaks = True
    sink = Recorded()
    await chat.answer(UserRecord(id=10, model_key="gpt-5-nano"), "скажи", sink)
    assert sink.sounds == [(VOICE, "audio/ogg")]
    speech = 30 * 0.015 / 60 + 7 * 15.0 / 1_000_000
    cost = chat._stats._day().costs["10:gpt-5-nano"]
    assert cost == pytest.approx((tokens + speech) * USD_RUB, rel=1e-12)


def test_the_catalog_takes_the_new_units_and_refuses_a_negative_price(catalog: Catalog) -> None:
    drawing = priced(catalog, price_image=0.04, price_audio_minute=0.015, price_spoken=15.0)
    model = drawing.models_by_key["gpt-5-nano"]
    assert set(model.prices) == set(Unit)  # every unit priced
    assert catalog.transcription is not None
    assert set(catalog.transcription.prices) == {Unit.AUDIO_SECONDS}
    with pytest.raises(ValueError, match="price_image"):
        priced(catalog, price_image=-1.0)
