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


class PayWith(CallbackData, prefix="pay"):
    plan_id: str
    method: str  # "yoomoney" | "sbp" | "stars"


class CheckPayment(CallbackData, prefix="chk"):
    payment_id: str


class SbpPaid(CallbackData, prefix="sbp"):
    payment_id: str


class AdminPayment(CallbackData, prefix="adp"):
    action: str  # "confirm" | "reject" | "default"
    payment_id: str
