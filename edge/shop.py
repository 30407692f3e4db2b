"""The shop's screens, shared by /model, /plans, the payment screens and the private
chat's deep links: what each model is good for, where it is sold from and what really
answers; the plans with their active marks; what paying for an active plan extends to."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from config import Settings
from edge.views import terms_line
from services.catalog import Catalog, Model, Plan
from services.money.subscriptions import SubscriptionService
from texts import Raw, Texts, format_moment

DAY = 86_400.0


def model_line(model: Model, texts: Texts, catalog: Catalog) -> str:
    """One model in /model: its name, what it is good for, the price it comes from, and
    the model that really answers where the catalog sells a retired name."""
    parts = [texts("model_line_name", model=model.name)]
    purpose = model.purpose(texts.language)
    if purpose:
        parts.append(texts("model_line_about", about=purpose))
    cheapest = next(iter(catalog.plans_with_model(model.key)), None)
    if model.free:
        parts.append(texts("model_line_free"))
    elif cheapest is not None:
        parts.append(texts("model_line_price", price=cheapest.price_rub, plan=cheapest.name))
    if model.answered_by:
        parts.append(texts("model_line_answered_by", model=model.answered_by))
    return "".join(parts)


def models_lines(catalog: Catalog, texts: Texts) -> str:
    return "\n".join(model_line(model, texts, catalog) for model in catalog.models)


def locked_text(model: Model, texts: Texts, catalog: Catalog) -> str:
    """A locked model pressed in /model: what it is and the plans that open it."""
    plans = catalog.plans_with_model(model.key)
    text = texts(
        "model_locked_menu",
        line=Raw(model_line(model, texts, catalog)),
        plans=", ".join(plan.name for plan in plans),
    )
    if model.answered_by:
        text += "\n\n" + texts("model_locked_answered_by", model=model.name, real=model.answered_by)
    return text


def plans_text(
    user_id: int, texts: Texts, catalog: Catalog, subs: SubscriptionService, zone: ZoneInfo
) -> str:
    """/plans: every plan on sale with its price and models; an active one says until
    when (on the plan's own line) and that paying for it extends it."""
    active = active_ends(user_id, subs)
    lines = []
    for plan in catalog.on_sale:
        end = active.get(plan.id)
        lines.append(
            texts(
                "plan_line_active" if end else "plan_line",
                plan=plan.name,
                price=plan.price_rub,
                models=catalog.model_names(plan),
                end=format_moment(end or 0.0, zone),
            )
        )
    days = max((plan.days for plan in catalog.on_sale), default=30)
    return texts("plans", days=days, plans=Raw("\n\n".join(lines)))


def active_ends(user_id: int, subs: SubscriptionService) -> dict[str, float]:
    return {item.plan.id: item.end for item in subs.active_plans(user_id)}


def extends_line(
    user_id: int, plan: Plan, texts: Texts, subs: SubscriptionService, zone: ZoneInfo
) -> str | None:
    """Paying for a plan that is active adds its days from its end: the new end, said
    before the user pays; None for a plan not active."""
    end = active_ends(user_id, subs).get(plan.id)
    if end is None:
        return None
    new_end = max(end, time.time()) + plan.days * DAY
    return texts(
        "pay_extends",
        plan=plan.name,
        end=format_moment(end, zone),
        new_end=format_moment(new_end, zone),
    )


def plan_heading(
    plan: Plan,
    user_id: int,
    texts: Texts,
    catalog: Catalog,
    subs: SubscriptionService,
    settings: Settings,
) -> str:
    """A payment screen's top: the plan, its price and models; for an active plan the end
    paying extends it to; what paying accepts (the offer, the privacy policy)."""
    parts = [
        texts(
            "pay_choose_method",
            plan=plan.name,
            price=plan.price_rub,
            days=plan.days,
            models=catalog.model_names(plan),
        )
    ]
    extends = extends_line(user_id, plan, texts, subs, settings.zone)
    if extends:
        parts.append(extends)
    terms = terms_line(texts, settings.offer_url, settings.privacy_url)
    if terms:
        parts.append(terms)
    return "\n\n".join(parts)
