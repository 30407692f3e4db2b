"""The admin panel's keyboards, as small pure functions."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from edge.callbacks import (
    AdminBroadcast,
    AdminMenu,
    AdminPayment,
    AdminPromo,
    AdminUser,
    BroadcastAct,
    PaymentAct,
    PromoAct,
    Section,
    SupportReply,
    UserAct,
)
from edge.views import amount_text, payment_ref, plan_name
from services.catalog import Catalog, Plan
from services.models import Payment, PromoCode, UserRecord
from texts import Texts

MENU_SECTIONS = (Section.USERS, Section.PAYMENTS, Section.STATS, Section.PROMO, Section.BROADCAST)
GRANT_DAYS = (7, 30, 90, 365)


def menu_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for section in MENU_SECTIONS:
        builder.button(text=texts(f"btn_admin_{section}"), callback_data=AdminMenu(section=section))
    builder.adjust(2)
    return builder.as_markup()


def with_back(texts: Texts, builder: InlineKeyboardBuilder | None = None) -> InlineKeyboardMarkup:
    """The given buttons, one per row, and "Back" to the panel."""
    builder = builder or InlineKeyboardBuilder()
    builder.button(text=texts("btn_back"), callback_data=AdminMenu(section=Section.MAIN))
    builder.adjust(1)
    return builder.as_markup()


def yes_keyboard(texts: Texts, yes: AdminUser) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_yes"), callback_data=yes)
    return with_back(texts, builder)


def stats_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    """Under /stats: the month's costliest users and the top inviters, one press away."""
    builder = InlineKeyboardBuilder()
    for section in (Section.TOP_SPENDERS, Section.TOP_INVITERS):
        builder.button(text=texts(f"btn_admin_{section}"), callback_data=AdminMenu(section=section))
    return with_back(texts, builder)


# Users --------------------------------------------------------------------------------
def user_keyboard(user_id: int, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_grant"), callback_data=AdminUser(action=UserAct.GRANT, user_id=user_id)
    )
    builder.button(
        text=texts("btn_revoke"), callback_data=AdminUser(action=UserAct.REVOKE, user_id=user_id)
    )
    return with_back(texts, builder)


def found_users_keyboard(found: Iterable[UserRecord], texts: Texts) -> InlineKeyboardMarkup:
    """A search by name: one button per user, named as the admin would know them."""
    builder = InlineKeyboardBuilder()
    for user in found:
        name = user.first_name or "—"
        label = f"{name} (@{user.username}, {user.id})" if user.username else f"{name} ({user.id})"
        builder.button(
            text=label[:64], callback_data=AdminUser(action=UserAct.CARD, user_id=user.id)
        )
    return with_back(texts, builder)


def grant_plans_keyboard(user_id: int, plans: Iterable[Plan], texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(
            text=plan.name,
            callback_data=AdminUser(action=UserAct.PLAN, user_id=user_id, plan_id=plan.id),
        )
    return with_back(texts, builder)


def grant_days_keyboard(user_id: int, plan_id: str, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for days in GRANT_DAYS:
        builder.button(
            text=str(days),
            callback_data=AdminUser(
                action=UserAct.DAYS, user_id=user_id, plan_id=plan_id, days=days
            ),
        )
    return with_back(texts, builder)


def revoke_plans_keyboard(
    user_id: int, plans: Iterable[Plan], texts: Texts
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(
            text=plan.name,
            callback_data=AdminUser(action=UserAct.REVOKE_ASK, user_id=user_id, plan_id=plan.id),
        )
    builder.button(
        text=texts("btn_all_plans"),
        callback_data=AdminUser(action=UserAct.REVOKE_ASK, user_id=user_id),
    )
    return with_back(texts, builder)


# Payments -----------------------------------------------------------------------------
def sbp_decision_keyboard(payment_id: str, texts: Texts) -> InlineKeyboardMarkup:
    """Confirm / Reject under an SBP request."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_confirm"),
        callback_data=AdminPayment(action=PaymentAct.CONFIRM, payment_id=payment_id),
    )
    builder.button(
        text=texts("btn_reject"),
        callback_data=AdminPayment(action=PaymentAct.REJECT, payment_id=payment_id),
    )
    return builder.as_markup()


def support_reply_keyboard(user_id: int, texts: Texts) -> InlineKeyboardMarkup:
    """Answer under a user's /support question."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_support_reply"), callback_data=SupportReply(user_id=user_id))
    return builder.as_markup()


def default_reason_keyboard(payment_id: str, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_default_reason"),
        callback_data=AdminPayment(action=PaymentAct.DEFAULT, payment_id=payment_id),
    )
    return builder.as_markup()


def payments_section_keyboard(
    pending: Iterable[Payment], texts: Texts, catalog: Catalog
) -> InlineKeyboardMarkup:
    """Confirm / Reject for pending SBP payments only (YooMoney and Stars credit themselves:
    a Confirm there would grant a plan for an unpaid invoice), each button naming the
    payment by its number, plan and amount; export, back."""
    builder = InlineKeyboardBuilder()
    for payment in pending:
        if payment.method != "sbp":
            continue
        what = f"{payment_ref(payment)} · {plan_name(catalog, payment.plan_id)}"
        builder.button(
            text=texts("btn_confirm_payment", payment=what, amount=amount_text(payment, texts)),
            callback_data=AdminPayment(action=PaymentAct.CONFIRM, payment_id=payment.id),
        )
        builder.button(
            text=texts("btn_reject_payment", payment=payment_ref(payment)),
            callback_data=AdminPayment(action=PaymentAct.REJECT, payment_id=payment.id),
        )
    builder.button(text=texts("btn_export_csv"), callback_data=AdminMenu(section=Section.EXPORT))
    builder.button(text=texts("btn_back"), callback_data=AdminMenu(section=Section.MAIN))
    builder.adjust(2)
    return builder.as_markup()


# Promo codes --------------------------------------------------------------------------
def promo_section_keyboard(codes: Iterable[PromoCode], texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for item in codes:
        toggle = PromoAct.ENABLE if item.disabled else PromoAct.DISABLE
        builder.button(
            text=texts(f"btn_{toggle}", code=item.code),
            callback_data=AdminPromo(action=toggle, code=item.code),
        )
        builder.button(
            text=texts("btn_delete", code=item.code),
            callback_data=AdminPromo(action=PromoAct.DELETE, code=item.code),
        )
    builder.button(text=texts("btn_new_promo"), callback_data=AdminPromo(action=PromoAct.NEW))
    builder.button(text=texts("btn_back"), callback_data=AdminMenu(section=Section.MAIN))
    builder.adjust(2)
    return builder.as_markup()


def promo_plans_keyboard(plans: Iterable[Plan]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(text=plan.name, callback_data=AdminPromo(action=PromoAct.PLAN, code=plan.id))
    builder.adjust(2)
    return builder.as_markup()


def promo_days_keyboard() -> InlineKeyboardMarkup:
    """The wizard's days: the grant flow's choices (any other number may be typed)."""
    builder = InlineKeyboardBuilder()
    for days in GRANT_DAYS:
        builder.button(
            text=str(days), callback_data=AdminPromo(action=PromoAct.DAYS, code=str(days))
        )
    builder.adjust(len(GRANT_DAYS))
    return builder.as_markup()


def skip_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_skip"), callback_data=AdminPromo(action=PromoAct.SKIP))
    return builder.as_markup()


# Broadcasts ---------------------------------------------------------------------------
def broadcast_confirm_keyboard(broadcast_id: str, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_send"),
        callback_data=AdminBroadcast(action=BroadcastAct.SEND, broadcast_id=broadcast_id),
    )
    builder.button(
        text=texts("btn_cancel"),
        callback_data=AdminBroadcast(action=BroadcastAct.DROP, broadcast_id=broadcast_id),
    )
    return builder.as_markup()


def broadcast_stop_keyboard(broadcast_id: str, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_stop"),
        callback_data=AdminBroadcast(action=BroadcastAct.STOP, broadcast_id=broadcast_id),
    )
    return builder.as_markup()
