"""Inline keyboards as small pure functions."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from edge.callbacks import (
    AnswerAct,
    AnswerControl,
    BuyPlan,
    CancelPromo,
    ChatsAct,
    ChatsMenu,
    CheckPayment,
    EnterPromo,
    Example,
    ModeAct,
    ModeChoice,
    ModelChoice,
    OpenScreen,
    PayAgain,
    PayMethod,
    PayWith,
    PlansMenu,
    Renewal,
    RenewalAct,
    SbpAct,
    SbpPaid,
    SbpStep,
    Screen,
    ShowModels,
    ShowPlans,
    Support,
    SupportAct,
)
from services.catalog import CUSTOM_MODE, Catalog, Model, Plan
from services.models import Conversation, StarsSubscription
from services.money.payments import MAX_SUBSCRIPTION_STARS, STARS_SUBSCRIPTION_PERIOD
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


EXAMPLES = (1, 2, 3)  # /start's example questions: texts' example_<n>


def start_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    """/start: the main places, then the example questions (a button asks it)."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_start_models"), callback_data=OpenScreen(screen=Screen.MODELS))
    builder.button(text=texts("btn_plans"), callback_data=ShowPlans())
    builder.button(text=texts("btn_start_profile"), callback_data=OpenScreen(screen=Screen.PROFILE))
    builder.button(text=texts("btn_start_invite"), callback_data=OpenScreen(screen=Screen.INVITE))
    builder.button(text=texts("btn_start_support"), callback_data=Support())
    for index in EXAMPLES:
        question = texts(f"example_{index}")
        builder.button(
            text=texts("btn_example", question=question), callback_data=Example(index=index)
        )
    builder.adjust(2, 3, *(1 for _ in EXAMPLES))
    return builder.as_markup()


def plans_button(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_plans"), callback_data=ShowPlans())
    return builder.as_markup()


def plans_keyboard(plans: list[Plan], texts: Texts, active: set[str]) -> InlineKeyboardMarkup:
    """/plans: Buy under each plan, Extend under an active one; a promo code."""
    builder = InlineKeyboardBuilder()
    for plan in plans:
        key = "btn_extend" if plan.id in active else "btn_buy"
        builder.button(
            text=texts(key, plan=plan.name, price=plan.price_rub),
            callback_data=BuyPlan(plan_id=plan.id),
        )
    builder.button(text=texts("btn_promo"), callback_data=EnterPromo())
    builder.adjust(1)
    return builder.as_markup()


def locked_model_keyboard(plans: list[Plan], texts: Texts) -> InlineKeyboardMarkup:
    """Under a locked model: the plans that open it, with prices; Back to the models."""
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(
            text=texts("btn_plan_price", plan=plan.name, price=plan.price_rub),
            callback_data=BuyPlan(plan_id=plan.id),
        )
    builder.button(text=texts("btn_back"), callback_data=ShowModels())
    builder.adjust(1)
    return builder.as_markup()


def payment_methods_keyboard(
    plan: Plan,
    texts: Texts,
    *,
    yoomoney: bool,
    sbp: bool,
    shown: PayMethod | None = None,
    above: InlineKeyboardMarkup | None = None,
) -> InlineKeyboardMarkup:
    """The methods for a plan; on an invoice screen (`shown`, its own buttons `above`)
    the other methods. Back to the plans, and Support unless `above` has it."""
    builder = InlineKeyboardBuilder(markup=list(above.inline_keyboard) if above else None)
    rows = [len(row) for row in above.inline_keyboard] if above else []
    if yoomoney and shown != PayMethod.YOOMONEY:
        builder.button(
            text=texts("btn_pay_yoomoney"),
            callback_data=PayWith(plan_id=plan.id, method=PayMethod.YOOMONEY),
        )
    if sbp and shown != PayMethod.SBP:
        builder.button(
            text=texts("btn_pay_sbp"), callback_data=PayWith(plan_id=plan.id, method=PayMethod.SBP)
        )
    builder.button(
        text=texts("btn_pay_stars", stars=plan.stars),
        callback_data=PayWith(plan_id=plan.id, method=PayMethod.STARS),
    )
    if offers_stars_subscription(plan):
        builder.button(
            text=texts("btn_pay_stars_monthly", stars=plan.stars),
            callback_data=PayWith(plan_id=plan.id, method=PayMethod.STARS_MONTHLY),
        )
    builder.button(text=texts("btn_back"), callback_data=PlansMenu())
    has_support = above is not None and any(
        button.callback_data == Support().pack() for row in above.inline_keyboard for button in row
    )
    if not has_support:
        builder.button(text=texts("btn_support"), callback_data=Support())
    builder.adjust(*rows, 1)  # the invoice's own rows as they were, then one a row
    return builder.as_markup()


def offers_stars_subscription(plan: Plan) -> bool:
    """A plan is offered as a Stars subscription when its period is Telegram's only
    subscription period (30 days) and its price within Telegram's cap."""
    return plan.days * 86_400 == STARS_SUBSCRIPTION_PERIOD and plan.stars <= MAX_SUBSCRIPTION_STARS


def link_keyboard(text: str, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=text, url=url)
    return builder.as_markup()


def profile_keyboard(
    items: list[tuple[StarsSubscription, Plan]], texts: Texts
) -> InlineKeyboardMarkup:
    """/profile: Cancel renewal (or Resume renewal) under each running Stars subscription,
    and Support."""
    builder = InlineKeyboardBuilder()
    for item, plan in items:
        action = RenewalAct.RESUME if item.canceled else RenewalAct.CANCEL
        key = "btn_renewal_resume" if item.canceled else "btn_renewal_cancel"
        builder.button(
            text=texts(key, plan=plan.name),
            callback_data=Renewal(action=action, subscription_id=item.id),
        )
    builder.button(text=texts("btn_support"), callback_data=Support())
    builder.adjust(1)
    return builder.as_markup()


def yoomoney_keyboard(url: str, payment_id: str, price: int, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_pay_link", price=price), url=url)
    builder.button(
        text=texts("btn_check_payment"), callback_data=CheckPayment(payment_id=payment_id)
    )
    builder.adjust(1)
    return builder.as_markup()


def sbp_keyboard(payment_id: str, texts: Texts) -> InlineKeyboardMarkup:
    """Under an SBP invoice: send the receipt, say it is paid without one, or ask."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_sbp_receipt"),
        callback_data=SbpStep(action=SbpAct.SEND_RECEIPT, payment_id=payment_id),
    )
    builder.button(text=texts("btn_sbp_paid"), callback_data=SbpPaid(payment_id=payment_id))
    builder.button(text=texts("btn_support"), callback_data=Support())
    builder.adjust(1)
    return builder.as_markup()


def receipt_prompt_keyboard(payment_id: str, texts: Texts) -> InlineKeyboardMarkup:
    """Under "send the receipt now": Cancel."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_cancel"), callback_data=SbpStep(action=SbpAct.CANCEL, payment_id=payment_id)
    )
    return builder.as_markup()


def receipt_question_keyboard(payment_id: str, held: int, texts: Texts) -> InlineKeyboardMarkup:
    """Under "is this the receipt?" about a photo or file sent after an SBP invoice."""
    builder = InlineKeyboardBuilder()
    for action, key in ((SbpAct.YES, "btn_receipt_yes"), (SbpAct.NO, "btn_receipt_no")):
        builder.button(
            text=texts(key), callback_data=SbpStep(action=action, payment_id=payment_id, held=held)
        )
    builder.adjust(1)
    return builder.as_markup()


def pay_again_keyboard(plan_id: str | None, texts: Texts) -> InlineKeyboardMarkup:
    """Under a rejected or returned payment: pay for the plan again, or write to support."""
    builder = InlineKeyboardBuilder()
    if plan_id:
        builder.button(text=texts("btn_pay_again"), callback_data=PayAgain(plan_id=plan_id))
    builder.button(text=texts("btn_support"), callback_data=Support())
    builder.adjust(1)
    return builder.as_markup()


def notice_keyboard(
    text_key: str, params: dict[str, str], texts: Texts
) -> InlineKeyboardMarkup | None:
    """The buttons under a notice the outbox sends, by its text."""
    if text_key == "pay_rejected":
        return pay_again_keyboard(params.get("plan_id"), texts)
    return None


def support_keyboard(url: str | None, texts: Texts) -> InlineKeyboardMarkup | None:
    """/support with a contact: a button that opens it, where it is a link."""
    return link_keyboard(texts("btn_support_open"), url) if url else None


def support_more_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    """Under support's answer: write again."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_support_more"), callback_data=Support())
    return builder.as_markup()


def promo_cancel_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_cancel"), callback_data=CancelPromo())
    return builder.as_markup()


def rename_cancel_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_cancel"), callback_data=ChatsMenu(action=ChatsAct.RENAME_CANCEL))
    return builder.as_markup()


def private_chat_keyboard(url: str, texts: Texts) -> InlineKeyboardMarkup:
    """In a group: a button that opens the private chat with the bot at a screen."""
    return link_keyboard(texts("btn_open_private"), url)


def support_cancel_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_cancel"), callback_data=Support(action=SupportAct.CANCEL))
    return builder.as_markup()


def answer_keyboard(action: AnswerAct, texts: Texts) -> InlineKeyboardMarkup:
    """Stop under an answer being written; Retry under a finished one."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts(f"btn_{action}"), callback_data=AnswerControl(action=action))
    return builder.as_markup()


def mode_keyboard(
    catalog: Catalog, current: Conversation, language: str, texts: Texts
) -> InlineKeyboardMarkup:
    """/mode: the catalog's presets and "my own instruction", the current one ticked."""
    builder = InlineKeyboardBuilder()
    for mode in catalog.modes:
        mark = "✅ " if mode.key == current.mode else ""
        builder.button(
            text=f"{mark}{mode.title(language)}",
            callback_data=ModeChoice(action=ModeAct.SET, key=mode.key),
        )
    mark = "✅ " if current.mode == CUSTOM_MODE else ""
    builder.button(
        text=f"{mark}{texts('btn_mode_custom')}", callback_data=ModeChoice(action=ModeAct.CUSTOM)
    )
    builder.adjust(2)
    return builder.as_markup()


def mode_use_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    """Under an instruction shown back: "Use it"."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_mode_use"), callback_data=ModeChoice(action=ModeAct.USE))
    return builder.as_markup()


# Referrals ------------------------------------------------------------------------------
def share_url(link: str, text: str) -> str:
    """Telegram's share dialog for `link` with `text` (the user picks the chats)."""
    return "https://t.me/share/url?" + urlencode({"url": link, "text": text}, quote_via=quote)


def invite_keyboard(link: str, texts: Texts) -> InlineKeyboardMarkup:
    """Under /invite: share the link with a few words of invitation."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_share_invite"), url=share_url(link, texts("invite_share_text")))
    return builder.as_markup()
