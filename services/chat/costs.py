"""Provider costs in the catalog's units: what an answer or a transcription used (tokens,
pictures, seconds of audio, characters spoken), times the catalog's price of each unit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.catalog import PRICED_PER, Unit
from services.chat.answer import MediaPart
from services.chat.pictures import Prompt
from services.models import Usage

# Rough characters per token, for budgeting memory and for answers whose stream gave no
# token counts; low so that Cyrillic fits too.
CHARS_PER_TOKEN = 2.5


def counted_tokens(usage: Usage | None, prompt: Prompt, answer: str) -> Usage:
    """The provider's token counts, or counted from the text when the stream gave none."""
    if usage is not None:
        return usage
    chars = prompt.chars + sum(len(t.content) for t in prompt.turns if t.role == "system")
    return Usage(round(chars / CHARS_PER_TOKEN), round(len(answer) / CHARS_PER_TOKEN))


def answer_units(usage: Usage, media: Iterable[MediaPart] = ()) -> dict[Unit, float]:
    """What an answer used: its tokens, and what each picture or sound of it used."""
    used: dict[Unit, float] = {
        Unit.INPUT_TOKENS: usage.prompt_tokens,
        Unit.OUTPUT_TOKENS: usage.completion_tokens,
    }
    for part in media:
        for unit, count in part.units.items():
            used[unit] = used.get(unit, 0) + count
    return used


def cost_rub(
    prices: Mapping[Unit, float], used: Mapping[Unit, float], usd_rub: float
) -> float | None:
    """RUB for what was used; a unit without a price adds nothing, and None (unknown, not
    zero) when the catalog prices none of the units used."""
    priced = [unit for unit in used if unit in prices]
    if not priced:
        return None
    usd = sum(used[unit] * prices[unit] / PRICED_PER[unit] for unit in priced)
    return usd * usd_rub
