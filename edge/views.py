"""Small renderers shared by several handler modules (admin lines, user notices)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from services.catalog import Catalog
from services.models import Payment, PromoCode
from services.operator.reports import Revenue
from services.users import UsersService
from texts import Texts, format_moment, get_texts

METHOD_NAMES = {"yoomoney": "ЮMoney", "sbp": "СБП", "stars": "Stars"}


def bonus_text(texts: Texts, days: int, plan_name: str | None, requests: int) -> str:
    """A referral bonus in words: days of a plan, extra free requests a day, or both."""
    parts = []
    if plan_name is not None:
        parts.append(texts("bonus_plan_days", days=days, plan=plan_name))
    if requests:
        parts.append(texts("bonus_requests", requests=requests, days=days))
    return texts("and_join").join(parts)


def amount_text(payment: Payment) -> str:
    return f"{payment.amount:g} ⭐" if payment.currency == "XTR" else f"{payment.amount:g} ₽"


def payment_line(payment: Payment, texts: Texts, zone: ZoneInfo) -> str:
    """One payment in an admin list: id, method, plan, amount, user, status and time."""
    return texts(
        "admin_payment_line",
        payment_id=payment.id,
        method=METHOD_NAMES.get(payment.method, payment.method),
        plan=payment.plan_id,
        amount=amount_text(payment),
        user_id=payment.user_id,
        status=payment.status,
        when=format_moment(payment.paid_at or payment.created_at, zone),
    )


def revenue_lines(groups: Mapping[str, Revenue], texts: Texts) -> str:
    """Revenue per group (day, month or method), in key order."""
    lines = [
        texts(
            "admin_revenue_line",
            name=name,
            rub=f"{revenue.rub:g}",
            stars=f"{revenue.stars:g}",
            count=revenue.count,
        )
        for name, revenue in sorted(groups.items())
    ]
    return "\n".join(lines) or texts("none")


def promo_line(promo: PromoCode, uses: int, texts: Texts, catalog: Catalog) -> str:
    plan = catalog.plans_by_id.get(promo.plan_id)
    return texts(
        "admin_promo_item",
        code=promo.code,
        plan=plan.name if plan else promo.plan_id,
        days=promo.days,
        used=uses,
        max_uses=promo.max_uses or "∞",
        until=promo.valid_until or texts("no_date"),
        state=texts("disabled_mark") if promo.disabled else "",
    )


async def tell_user(
    bot: Bot, users: UsersService, user_id: int, key: str, **values: object
) -> None:
    """Send a notice in the user's language; they may have blocked the bot or never started it."""
    user = await users.get(user_id)
    with contextlib.suppress(TelegramAPIError):
        await bot.send_message(user_id, get_texts(user.language if user else "ru")(key, **values))
