"""/start, /help, /profile, /new, /cancel."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from config import Settings
from edge.allowance import allowance_text, cheapest, free_allowance
from edge.callbacks import OpenScreen, Screen
from edge.deep_links import PROFILE, SCREENS
from edge.keyboards import profile_keyboard, start_keyboard
from edge.middlewares import Turn
from edge.notifier import Notifier
from edge.views import referral_bonus, renewal_lines, running_renewals
from services.catalog import Catalog
from services.chat.chat import ChatService
from services.chat.voice import VoiceService
from services.limits.access import AccessService
from services.limits.quota import Left, QuotaService
from services.models import UserRecord
from services.money.payments import PaymentService
from services.money.referrals import ReferralService
from services.money.subscriptions import SubscriptionService
from texts import Raw, Texts, format_moment

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


def _free_limit(catalog: Catalog) -> int:
    limits = [model.free_input_limit for model in catalog.models if model.free]
    return min((limit for limit in limits if limit), default=0)


def start_text(
    texts: Texts, catalog: Catalog, quota: QuotaService, user: UserRecord, voice: bool
) -> str:
    """What the bot does, what is free (the user's own number), the cheapest plan's price
    and what it understands besides text."""
    media = [texts("start_media_photos")] if any(m.vision for m in catalog.models) else []
    if voice:
        media.append(texts("start_media_voice"))
    media.append(texts("start_media_files"))
    plan = cheapest(catalog)
    return texts(
        "start",
        name=user.first_name or "👋",
        allowance=allowance_text(free_allowance(catalog, quota, user.id), texts),
        price=plan.price_rub if plan else 0,
        days=plan.days if plan else 0,
        media=", ".join(media[:-1]) + texts("and_join") + media[-1] if len(media) > 1 else media[0],
    )


async def tell_inviter(
    bot: Bot, notifier: Notifier, catalog: Catalog, inviter_id: int, friend: str
) -> None:
    """The inviter told that a friend came through their link, and what comes when the
    friend pays."""
    texts = await notifier.texts_for(inviter_id)
    bonus = referral_bonus(texts, catalog)
    then = texts("referral_joined_bonus", bonus=Raw(bonus)) if bonus else ""
    name = friend or texts("referral_friend")
    await notifier.send(bot, inviter_id, texts("referral_joined", name=name, then=Raw(then)))


@router.message(CommandStart(magic=~F.args.in_(SCREENS)))
async def start(
    message: Message,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    quota: QuotaService,
    voice: VoiceService,
    command: CommandObject,
    referrals: ReferralService,
    bot: Bot,
    notifier: Notifier,
    first_visit: bool = False,
) -> None:
    """/start: what the bot is, what is free, what it costs, with the main places and
    example questions. `/start ref_<code>` (an invite link) records a new user as
    invited: they are greeted as invited and the inviter is told; anything else in it is
    ignored."""
    referral = None
    if command.args:
        referral = await referrals.arrive(user.id, command.args, first_visit=first_visit)
    text = start_text(texts, catalog, quota, user, voice.enabled)
    if referral is not None:
        text = texts("start_invited") + "\n\n" + text
    await message.answer(text, reply_markup=start_keyboard(texts))
    if referral is not None:
        await tell_inviter(bot, notifier, catalog, referral.inviter_id, user.first_name)


@router.message(Command("help"))
async def help_command(
    message: Message, user: UserRecord, texts: Texts, catalog: Catalog, quota: QuotaService
) -> None:
    """/help: what the bot does and its commands."""
    allowance = allowance_text(free_allowance(catalog, quota, user.id), texts)
    await message.answer(texts("help", allowance=allowance, free_limit=_free_limit(catalog)))


@router.message(CommandStart(deep_link=True, magic=F.args == PROFILE))  # from a group
@router.message(Command("profile"))
async def profile(
    message: Message,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    access: AccessService,
    quota: QuotaService,
    referrals: ReferralService,
    voice: VoiceService,
    settings: Settings,
) -> None:
    """/profile: the user's model, active plans with end dates, what is left today (voice
    too), and the friends they invited."""
    lines = [
        texts(
            "profile_plan_line",
            plan=item.plan.name,
            end=format_moment(item.end, settings.zone),
            models=catalog.model_names(item.plan),
        )
        for item in subscriptions.active_plans(user.id)
    ]
    plans = texts("profile_plans", plans=Raw("\n".join(lines))) if lines else None
    renewals = running_renewals(payments, catalog, user.id)  # Stars subscriptions
    if renewals:
        renewing = renewal_lines(renewals, texts, settings.zone)
        plans = (plans or texts("profile_no_plans")) + "\n" + renewing
    open_models = [m for m in catalog.models if m.key in access.open_model_keys(user.id)]
    await quota.refresh(user.id)  # what other processes counted
    today = _left_today(quota.left_today(user.id, open_models), texts)
    seconds = voice.free_seconds_left(user.id)
    if seconds is not None:
        today.append(texts("profile_left_voice", left=seconds[0], limit=seconds[1]))
    left = "\n".join([*today, *_left_month(quota, user.id, texts, settings)])
    if left:
        resets = format_moment(quota.resets_at(), settings.zone)
        plans = (
            (plans or texts("profile_no_plans"))
            + "\n\n"
            + texts("profile_left", resets=resets, lines=Raw(left))
        )
    invited, rewarded = referrals.counts(user.id)
    await message.answer(
        texts(
            "profile",
            user_id=user.id,
            model=chat.current_model(user).name,
            plans=Raw(plans or texts("profile_no_plans")),
            allowance=allowance_text(free_allowance(catalog, quota, user.id), texts),
            free_limit=_free_limit(catalog),
            referrals=Raw(
                texts("profile_referrals", invited=invited, rewarded=rewarded)
                if invited
                else texts("profile_referrals_none")
            ),
        ),
        reply_markup=profile_keyboard(renewals, texts),
    )


@router.callback_query(OpenScreen.filter(F.screen == Screen.PROFILE))
async def profile_button(
    query: CallbackQuery,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    access: AccessService,
    quota: QuotaService,
    referrals: ReferralService,
    voice: VoiceService,
    settings: Settings,
) -> None:
    """/start's Profile button."""
    await query.answer()
    if isinstance(query.message, Message):
        await profile(
            query.message,
            user,
            texts,
            chat,
            catalog,
            subscriptions,
            payments,
            access,
            quota,
            referrals,
            voice,
            settings,
        )


def _left_month(quota: QuotaService, user_id: int, texts: Texts, settings: Settings) -> list[str]:
    resets = format_moment(quota.month_resets_at(), settings.zone)
    return [
        texts(
            "profile_month_line",
            plan=item.plan.name,
            left=item.tokens,
            limit=item.plan.monthly_tokens or 0,
            resets=resets,
        )
        for item in quota.left_this_month(user_id)
    ]


def _left_today(items: list[Left], texts: Texts) -> list[str]:
    lines = []
    for item in items:
        parts = []
        if item.requests is not None and item.limits.requests is not None:
            parts.append(
                texts("profile_left_requests", left=item.requests, limit=item.limits.requests)
            )
        if item.chars is not None and item.limits.chars is not None:
            parts.append(texts("profile_left_chars", left=item.chars, limit=item.limits.chars))
        lines.append(texts("profile_left_line", model=item.model.name, parts=", ".join(parts)))
    return lines


@router.message(Command("cancel"))
async def cancel(
    message: Message,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    state: FSMContext,
    turn: Turn,
) -> None:
    """/cancel: stop the answer in progress, drop what was sent before it, or leave a
    multi-step action."""
    await turn.wait()  # everything sent before /cancel is queued by now, and dropped
    had_state = await state.get_state() is not None
    await state.clear()
    stopped = await chat.cancel(user.id)
    if not stopped:
        await message.answer(texts("cancel_done" if had_state else "cancel_nothing"))
