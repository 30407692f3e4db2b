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


class AdminMenu(CallbackData, prefix="adm"):
    section: str  # main, users, payments, stats, promo, broadcast, export


class AdminUser(CallbackData, prefix="adu"):
    action: str  # card, grant, plan, days, grant_ok, revoke, revoke_ok
    user_id: int
    plan_id: str = ""  # "" with revoke means every plan
    days: int = 0


class AdminPromo(CallbackData, prefix="apr"):
    action: str  # new, plan, skip, disable, enable, delete
    code: str = ""


class AdminBroadcast(CallbackData, prefix="abc"):
    action: str  # send, drop, stop
    broadcast_id: str
