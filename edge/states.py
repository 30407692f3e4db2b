"""Every multi-step conversation's states, in one place."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class SbpReceipt(StatesGroup):
    """After an SBP invoice. `offered`: a photo or file sent now is asked about (the
    receipt, or a question for the model?); `armed`: "Send receipt" was pressed, the next
    photo or file is the receipt."""

    offered = State()
    armed = State()


class SupportRequest(StatesGroup):
    """A user writes a question for the admins (/support without SUPPORT_CONTACT)."""

    message = State()


class SupportAnswer(StatesGroup):
    """An admin writes the answer to a user's /support question."""

    text = State()


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


# The admin's steps: what is sent during them never reaches a model (handlers/admin/steps).
ADMIN_STEPS = (AdminFind, RejectReason, PromoWizard, BroadcastDraft, SupportAnswer)
