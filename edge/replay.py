"""A user's message held back, then handled as if it had just arrived.

The SBP flow asks about a photo or file sent after an invoice ("is this the receipt?")
before anything happens to it; "no" hands it to the routers from the start, so it reaches
the model like any other picture or file. A held message is kept as the Bot API's JSON
in the FSM data (memory or Redis), so it survives between the two updates."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

HeldMessage = dict[str, Any]

# What the pressed button's handler was given that belongs to that handler only.
_HANDLER_ONLY = frozenset({"handler", "event_router", "callback_data", "raw_state"})


def hold(message: Message) -> HeldMessage:
    return message.model_dump(mode="json", exclude_none=True, by_alias=True)


def restore(held: HeldMessage, bot: Bot) -> Message:
    return Message.model_validate(held, context={"bot": bot})


async def replay(
    dispatcher: Dispatcher,
    bot: Bot,
    held: list[HeldMessage],
    state: FSMContext,
    data: dict[str, Any],
) -> None:
    """The held messages through the message routers (their outer middlewares too), with
    the context of the update that released them (`data`: the same user, chat and FSM
    context) and the FSM state as it is now. An album's photos go together, as Telegram
    sends them, so they make one question."""
    context = {name: value for name, value in data.items() if name not in _HANDLER_ONLY}
    context["raw_state"] = await state.get_state()
    context["bot"] = bot
    await asyncio.gather(
        *(dispatcher.propagate_event("message", restore(raw, bot), **context) for raw in held)
    )
