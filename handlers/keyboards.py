"""Inline keyboards as small pure functions."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import BuyPlan, EnterPromo, ModelChoice, ShowPlans
from services.catalog import Model, Plan
from texts import Texts


def models_keyboard(
    models: list[Model], *, current: str, open_keys: set[str], available_keys: set[str]
) -> InlineKeyboardMarkup:
    """One button per model: ✅ current, 🔒 needs a plan, ⛔ provider not configured."""
    builder = InlineKeyboardBuilder()
    for model in models:
        if model.key not in available_keys:
            mark = "⛔ "
        elif model.key not in open_keys:
            mark = "🔒 "
        elif model.key == current:
            mark = "✅ "
        else:
            mark = ""
        builder.button(text=f"{mark}{model.name}", callback_data=ModelChoice(key=model.key))
    builder.adjust(2)
    return builder.as_markup()


def start_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_plans"), callback_data=ShowPlans())
    builder.button(text=texts("btn_promo"), callback_data=EnterPromo())
    return builder.as_markup()


def plans_button(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_plans"), callback_data=ShowPlans())
    return builder.as_markup()


def plans_keyboard(plans: list[Plan], texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(
            text=texts("btn_buy", plan=plan.name, price=plan.price_rub),
            callback_data=BuyPlan(plan_id=plan.id),
        )
    builder.button(text=texts("btn_promo"), callback_data=EnterPromo())
    builder.adjust(1)
    return builder.as_markup()
