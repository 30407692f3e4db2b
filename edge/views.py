"""Small renderers shared by several routers and notices (admin lines, bonuses, Stars
subscriptions)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from services.catalog import Catalog, Plan
from services.models import Payment, PromoCode, StarsSubscription
from services.money.payments import PaymentService
from services.money.promo import PromoService
from services.operator.reports import Revenue
from texts import Raw, Texts, format_moment, formatting

METHOD_NAMES = {"yoomoney": "ЮMoney", "sbp": "СБП", "stars": "Stars"}


def bonus_text(texts: Texts, days: int, plan_name: str | None, requests: int) -> str:
    """A referral bonus in words: days of a plan, extra free requests a day, or both."""
    parts = []
    if plan_name is not None:
        parts.append(texts("bonus_plan_days", days=days, plan=plan_name))
    if requests:
        parts.append(texts("bonus_requests", requests=requests, days=days))
    return texts("and_join").join(parts)


def referral_bonus(texts: Texts, catalog: Catalog) -> str | None:
    """The catalog's referral bonus in words, or None when inviting earns nothing."""
    bonus = catalog.referral
    if bonus is None:
        return None
    plan = catalog.plans_by_id.get(bonus.plan or "")
    return bonus_text(texts, bonus.days, plan.name if plan else None, bonus.requests)


def amount_text(payment: Payment, texts: Texts) -> str:
    """1 199 ₽ or 580 ⭐, as the reader's language writes numbers."""
    shown = formatting.number(payment.amount, texts.language, group_from=4)
    return f"{shown}{formatting.NBSP}{'⭐' if payment.currency == 'XTR' else '₽'}"


def payment_ref(payment: Payment) -> str:
    """What names a payment to an admin: the SBP number the user typed, else the id."""
    return f"№{payment.number}" if payment.number else payment.id


def plan_name(catalog: Catalog, plan_id: str) -> str:
    plan = catalog.plans_by_id.get(plan_id)
    return plan.name if plan else plan_id


def payment_line(payment: Payment, texts: Texts, zone: ZoneInfo, catalog: Catalog) -> str:
    """One payment in an admin list: number, method, plan, amount, user, status and time,
    in the admin's words (the plan's name, not its id; the status in their language)."""
    return texts(
        "admin_payment_line",
        payment_id=payment_ref(payment),
        method=METHOD_NAMES.get(payment.method, payment.method),
        plan=plan_name(catalog, payment.plan_id),
        amount=amount_text(payment, texts),
        user_id=payment.user_id,
        status=texts(f"admin_status_{payment.status}"),
        when=format_moment(payment.paid_at or payment.created_at, zone),
    )


def needs_manager(payment: Payment) -> bool:
    """A pending SBP payment the user says is paid: only a manager can act on it. Every
    other pending payment waits for the user (to pay, or to send the receipt)."""
    return payment.method == "sbp" and payment.receipt_sent


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


def promo_lines(
    codes: list[PromoCode], texts: Texts, catalog: Catalog, promo: PromoService
) -> list[str]:
    """Promo codes in an admin list, each with its activations."""
    return [promo_line(item, promo.uses(item.code), texts, catalog) for item in codes]


def promo_total(codes: list[PromoCode], texts: Texts, promo: PromoService) -> Raw:
    uses = sum(promo.uses(item.code) for item in codes)
    return Raw(texts("admin_promo_total", count=len(codes), uses=uses))


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


def plan_ids(catalog: Catalog) -> str:
    """The plan ids an admin may type, for usage lines."""
    return ", ".join(plan.id for plan in catalog.on_sale)


def running_renewals(
    payments: PaymentService, catalog: Catalog, user_id: int
) -> list[tuple[StarsSubscription, Plan]]:
    """The user's paid Stars subscriptions in their period, with their plans."""
    items = []
    for record in payments.running_subscriptions(user_id):
        plan = catalog.plans_by_id.get(record.plan_id)
        if plan is not None:
            items.append((record, plan))
    return items


def renewal_lines(items: list[tuple[StarsSubscription, Plan]], texts: Texts, zone: ZoneInfo) -> str:
    """/profile: each running Stars subscription, renewing or cancelled."""
    return "\n".join(
        texts(
            "profile_renewal_off" if record.canceled else "profile_renewal_on",
            plan=plan.name,
            stars=record.stars,
            date=format_moment(record.expires_at or 0.0, zone),
        )
        for record, plan in items
    )


def terms_line(texts: Texts, offer_url: str | None, privacy_url: str | None) -> str | None:
    """ "Paying, you accept the offer and the privacy policy", with the links that are
    set; None when neither is."""
    if offer_url and privacy_url:
        return texts("pay_terms_both", offer=offer_url, privacy=privacy_url)
    if offer_url:
        return texts("pay_terms_offer", offer=offer_url)
    if privacy_url:
        return texts("pay_terms_privacy", privacy=privacy_url)
    return None


def support_url(contact: str) -> str | None:
    """Where SUPPORT_CONTACT opens as a link: a Telegram @username or a web address."""
    contact = contact.strip()
    if re.fullmatch(r"@[A-Za-z0-9_]{4,32}", contact):
        return f"https://t.me/{contact[1:]}"
    if re.fullmatch(r"https?://\S+", contact):
        return contact
    return None
