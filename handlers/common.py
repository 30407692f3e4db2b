"""/start, /help, /profile, /new, /cancel."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from config import Settings
from edge.keyboards import profile_keyboard, start_keyboard
from edge.middlewares import Turn
from edge.views import renewal_lines, running_renewals
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


def _free_summary(catalog: Catalog) -> tuple[str, int]:
    free = [model for model in catalog.models if model.free]
    limits = [model.free_input_limit for model in free if model.free_input_limit]
    return ", ".join(model.name for model in free), min(limits, default=0)


@router.message(CommandStart())
async def start(
    message: Message,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    command: CommandObject,
    referrals: ReferralService,
    first_visit: bool = False,
) -> None:
    """/start: greet the (now registered) user and show their model. `/start ref_<code>`
    (an invite link) records a new user as invited; anything else in it is ignored."""
    if command.args:
        await referrals.arrive(user.id, command.args, first_visit=first_visit)
    model = chat.current_model(user)
    await message.answer(
        texts("start", name=user.first_name or "👋", model=model.name),
        reply_markup=start_keyboard(texts),
    )


@router.message(Command("help"))
async def help_command(message: Message, texts: Texts, catalog: Catalog) -> None:
    """/help: what the bot does and its commands."""
    free_models, free_limit = _free_summary(catalog)
    await message.answer(texts("help", free_models=free_models, free_limit=free_limit))


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
    free_models, free_limit = _free_summary(catalog)
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
            free_models=free_models,
            free_limit=free_limit,
            referrals=Raw(texts("profile_referrals", invited=invited, rewarded=rewarded)),
        ),
        reply_markup=profile_keyboard(renewals, texts),
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
