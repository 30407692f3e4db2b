"""The free allowance in words and buttons: one number a user can hold on to (requests a
day with each free model), the same in the bot's description, /start, /help, /profile,
the notice when three are left and the refusal (whose buttons offer the other free
model, a new conversation and the plans from the cheapest price)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from edge.callbacks import ChatsAct, ChatsMenu, FreeModel, ShowPlans
from services.catalog import Catalog, Model, Plan
from services.limits.quota import QuotaService
from texts import Texts

NOTICE_AT = 3  # requests left today when the user is told


@dataclass(slots=True, frozen=True)
class Allowance:
    model: Model
    requests: int | None  # a day; None: no daily bound


def free_allowance(catalog: Catalog, quota: QuotaService | None, user_id: int) -> list[Allowance]:
    """Each free model with the requests a day a user without a plan has with it (a
    referral bonus included when `quota` is given: what would refuse them)."""
    result = []
    for model in catalog.models:
        if not model.free:
            continue
        requests = model.free_daily_requests
        if quota is not None and requests is not None:
            limits = quota.limits(user_id, model)
            if limits.kind == "free" and limits.requests is not None:
                requests = limits.requests
        result.append(Allowance(model, requests))
    return result


def allowance_text(items: list[Allowance], texts: Texts) -> str:
    """`GPT-4.1 Nano и GPT-5 Nano — по 30 запросов в день к каждой`."""
    names = texts("and_join").join(item.model.name for item in items)
    counts = {item.requests for item in items}
    if not items or None in counts:
        return texts("allowance_none", models=names)
    if len(counts) == 1:
        (count,) = counts
        if len(items) == 1:
            return texts("allowance_one", model=names, count=count)
        return texts("allowance_each", models=names, count=count)
    return ", ".join(
        texts("allowance_one", model=item.model.name, count=item.requests) for item in items
    )


def daily_requests(items: list[Allowance]) -> int:
    """The one number for the short description: the requests a day of one free model."""
    return max((item.requests or 0 for item in items), default=0)


def cheapest(catalog: Catalog) -> Plan | None:
    return min(catalog.on_sale, key=lambda plan: plan.price_rub, default=None)


def bot_descriptions(texts: Texts, catalog: Catalog) -> tuple[str, str]:
    """The bot's description (up to 512 characters: the empty chat before /start) and
    short description (up to 120: its profile and shares), from the catalog's numbers."""
    items = free_allowance(catalog, None, 0)
    plan = cheapest(catalog)
    description = texts(
        "bot_description",
        allowance=allowance_text(items, texts),
        price=plan.price_rub if plan else 0,
    )
    return description, texts("bot_short_description", count=daily_requests(items))


def other_free_left(
    catalog: Catalog,
    quota: QuotaService,
    user_id: int,
    model: Model,
    available: Callable[[Model], bool],
) -> tuple[Model, int] | None:
    """Another free model (its provider answering) the user may still ask today, with the
    requests left with it."""
    others = [m for m in catalog.models if m.free and m.key != model.key and available(m)]
    for item in quota.left_today(user_id, others):
        if item.limits.kind != "free" or item.requests is None:
            continue
        if item.requests > 0 and (item.chars is None or item.chars > 0):
            return item.model, item.requests
    return None


def free_refusal_keyboard(
    catalog: Catalog, texts: Texts, other: tuple[Model, int] | None
) -> InlineKeyboardMarkup:
    """Under a spent free allowance: the other free model (while it has requests), a new
    conversation, the plans from the cheapest price."""
    builder = InlineKeyboardBuilder()
    if other is not None:
        model, left = other
        builder.button(
            text=texts("btn_free_other", model=model.name, left=left),
            callback_data=FreeModel(key=model.key),
        )
    builder.button(text=texts("btn_chat_new"), callback_data=ChatsMenu(action=ChatsAct.NEW))
    plan = cheapest(catalog)
    if plan is not None:
        builder.button(
            text=texts("btn_plans_from", price=plan.price_rub), callback_data=ShowPlans()
        )
    else:
        builder.button(text=texts("btn_plans"), callback_data=ShowPlans())
    builder.adjust(1)
    return builder.as_markup()
