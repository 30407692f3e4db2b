"""How long a slow model's first words take to appear in the chat.

    python bench/first_words.py [--questions N] [--against OTHER_CHECKOUT]

The stand-in model sends its first piece at once, then nine more one second apart (a
slow model). For each
question the time from the model's first piece to the first thing the user sees (a
draft, or a message) is measured through the Bot API emulator; the median counts.
`--against DIR` runs another checkout's bot.py through the same load, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmark import OURS, BotSpec, StandIns, running_bot, stand_ins  # noqa: E402

PIECES = 10
PIECE_GAP = 1.0  # seconds between the model's pieces
USER = 4242
WORD = "слово"


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition` every 2 ms (the emulator runs in this loop)."""
    async with asyncio.timeout(60):
        while not condition():  # noqa: ASYNC110 (the emulator's state: no event to wait on)
            await asyncio.sleep(0.002)


async def first_words(spec: BotSpec, questions: int, argv_prefix: tuple[str, ...]) -> list[float]:
    """Seconds from the model's first piece to the first words shown, per question."""
    async with stand_ins() as services:
        services.llm.reply = lambda _request: f"{WORD} " * (PIECES * 4)
        services.llm.chunk_size = 24  # ten pieces
        services.llm.delay_per_chunk = PIECE_GAP
        services.llm.first_piece_at_once = True  # the first words come quickly, then slowly
        with tempfile.TemporaryDirectory() as workdir:
            async with running_bot(spec, services, Path(workdir), argv_prefix):
                return [await ask(services, number) for number in range(questions)]


async def ask(services: StandIns, number: int) -> float:
    telegram, llm = services.telegram, services.llm

    def shown() -> int:  # drafts and messages with the answer's words
        drafts = [d for d in telegram.drafts_in(USER) if WORD in str(d.get("text"))]
        return len(drafts) + answers()

    def answers() -> int:
        return sum(WORD in message.text for message in telegram.messages(USER))

    shown_before, answers_before, sent_before = shown(), answers(), llm.pieces_sent
    telegram.user_message(USER, f"вопрос {number}")
    await until(lambda: llm.pieces_sent > sent_before)
    first_piece = time.perf_counter()
    await until(lambda: shown() > shown_before)
    delay = time.perf_counter() - first_piece
    # The answer's own message, after its last piece; then a pause before the next.
    await until(lambda: llm.pieces_sent >= sent_before + PIECES and answers() > answers_before)
    await asyncio.sleep(1.5)
    return delay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout's bot.py, side by side")
    args = parser.parse_args()
    runs: list[tuple[str, BotSpec, tuple[str, ...]]] = [("this bot", OURS, ())]
    if args.against:
        other = args.against.resolve()
        runs.append((f"{other.name}", BotSpec(str(other), (str(other / "bot.py"),), str), ()))
    medians = {}
    for name, spec, prefix in runs:
        delays = asyncio.run(first_words(spec, args.questions, prefix))
        medians[name] = statistics.median(delays)
        shown = ", ".join(f"{delay:.2f}" for delay in delays)
        print(f"{name}: first words {medians[name]:.2f} s after the first piece (median; {shown})")
    if len(medians) == 2:
        ours, theirs = medians.values()
        print(f"this bot / {runs[1][0]}: {ours / theirs:.2f}x the wait")


if __name__ == "__main__":
    main()
