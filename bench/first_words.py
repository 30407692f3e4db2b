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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.benchmark import OURS, BotSpec, running_bot, stand_ins  # noqa: E402

PIECES = 10
PIECE_GAP = 1.0  # seconds between the model's pieces
USER = 4242
WORD = "слово"


async def first_words(spec: BotSpec, questions: int, argv_prefix: tuple[str, ...]) -> list[float]:
    """Seconds from the model's first piece to the first words shown, per question."""
    delays = []
    async with stand_ins() as services:
        services.llm.reply = lambda _request: f"{WORD} " * (PIECES * 4)
        services.llm.chunk_size = 24  # ten pieces
        services.llm.delay_per_chunk = PIECE_GAP
        services.llm.first_piece_at_once = True  # the first words come quickly, then slowly
        with tempfile.TemporaryDirectory() as workdir:
            async with running_bot(spec, services, Path(workdir), argv_prefix):
                telegram, llm = services.telegram, services.llm

                def shown() -> int:  # drafts and messages with the answer's words
                    drafts = [d for d in telegram.drafts_in(USER) if WORD in str(d.get("text"))]
                    return len(drafts) + sum(WORD in m.text for m in telegram.messages(USER))

                for number in range(questions):
                    shown_before = shown()
                    sent_before = llm.pieces_sent
                    telegram.user_message(USER, f"вопрос {number}")
                    while llm.pieces_sent == sent_before:
                        await asyncio.sleep(0.002)
                    first_piece = time.perf_counter()
                    while shown() == shown_before:
                        await asyncio.sleep(0.002)
                    delays.append(time.perf_counter() - first_piece)
                    answers = sum(WORD in m.text for m in telegram.messages(USER))
                    while sum(WORD in m.text for m in telegram.messages(USER)) == answers or (
                        llm.pieces_sent < sent_before + PIECES
                    ):  # the answer's own message, and its last piece
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(1.5)
    return delays


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
