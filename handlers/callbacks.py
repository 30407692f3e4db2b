"""Every inline button's callback data, in one place (packed size under 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ModelChoice(CallbackData, prefix="m"):
    key: str


class ShowPlans(CallbackData, prefix="plans"):
    pass


class BuyPlan(CallbackData, prefix="buy"):
    plan_id: str


class EnterPromo(CallbackData, prefix="promo"):
    pass
