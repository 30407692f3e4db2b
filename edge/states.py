"""Every multi-step conversation's states, in one place."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class SbpReceipt(StatesGroup):
    """A user sends the SBP receipt (photo or file)."""

    waiting = State()


class PromoEntry(StatesGroup):
    """A user types a promo code after pressing the button."""

    code = State()


class ChatRename(StatesGroup):
    """A user types a new title for the current conversation."""

    title = State()


class CustomMode(StatesGroup):
    """A user writes their own instruction for the conversation."""

    instruction = State()


class AdminFind(StatesGroup):
    """An admin types a user id or @username."""

    query = State()


class RejectReason(StatesGroup):
    """An admin types why an SBP payment is rejected."""

    waiting = State()


class PromoWizard(StatesGroup):
    """An admin creates a promo code step by step."""

    code = State()
    plan = State()
    days = State()
    uses = State()
    date = State()


class BroadcastDraft(StatesGroup):
    """An admin sends the message to broadcast."""

    content = State()
