"""What an admin sends during a step that waits for something else (a button, a number,
the broadcast): answered here with what the step waits for, never passed on to the model.

Included last in the admin package, so every step's own handlers come first; commands
pass (/cancel leaves the step).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.types import Message

from edge.states import ADMIN_STEPS
from texts import Texts

router = Router(name=__name__)


@router.message(StateFilter(*ADMIN_STEPS), ~F.text.startswith("/"))
async def step_waits(message: Message, texts: Texts) -> None:
    """Anything an admin step did not take: say so and how to leave it."""
    await message.answer(texts("admin_step_waiting"))
