"""Inline keyboards as small pure functions."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import ModelChoice
from services.catalog import Model


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
