"""Grant or extend a plan: by /grant and by the buttons on a user's card (plan, days,
confirmation), the user told each time."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from config import Settings
from edge.admin_keyboards import (
    grant_days_keyboard,
    grant_plans_keyboard,
    with_back,
    yes_keyboard,
)
from edge.callbacks import AdminUser, UserAct
from edge.editing import show
from edge.notifier import Notifier
from edge.views import plan_ids
from services.catalog import Catalog
from services.money.subscriptions import SubscriptionService
from services.operator.admin_input import MAX_DAYS, echo, typed_user_id, whole_number, within
from texts import Texts, format_moment

logger = logging.getLogger(__name__)
router = Router(name=__name__)


# The action, shared by the command and the buttons ---------------------------------------------
async def grant_plan(
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    notifier: Notifier,
    settings: Settings,
    *,
    user_id: int,
    plan_id: str,
    days: int,
    source: str,
) -> str | None:
    """Give or extend a plan and tell the user; the admin's answer, or None if this very
    intent (`source`: one command message or confirmation message) was already granted.
    Days beyond MAX_DAYS (typed or in a forged button) are refused; nothing changes."""
    if not within(days, MAX_DAYS):
        return texts("admin_days_range", max_days=MAX_DAYS)
    if subscriptions.has_source(user_id, source):
        return None  # a double tap or a re-delivered update
    subscription = await subscriptions.grant(user_id, plan_id, days, source)
    plan = catalog.plans_by_id[plan_id]
    end = format_moment(subscription.end, settings.zone)
    logger.info("Admin granted %s for %d days to %s (%s)", plan_id, days, user_id, source)
    await notifier.tell_user(
        bot,
        user_id,
        "granted_notice",
        plan=plan.name,
        end=end,
        models=catalog.model_names(plan),
    )
    return texts("admin_granted", user_id=user_id, plan=plan.name, days=days, end=end)


# The command -------------------------------------------------------------------------------
@router.message(Command("grant"))
async def grant_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    notifier: Notifier,
    settings: Settings,
) -> None:
    """/grant USER_ID PLAN DAYS: give or extend a plan (1 to MAX_DAYS days)."""
    args = (command.args or "").split()
    user_id, days = (
        (typed_user_id(args[0]), whole_number(args[2])) if len(args) == 3 else (None, None)
    )
    if user_id is None or not days:  # not three arguments, or no numbers where due
        await message.answer(texts("admin_grant_usage", plans=plan_ids(catalog)))
        return
    plan_id = args[1]
    if not user_id:
        await message.answer(texts("admin_user_id_range"))
        return
    if plan_id not in catalog.plans_by_id:
        await message.answer(
            texts("admin_unknown_plan", plan=echo(plan_id), plans=plan_ids(catalog))
        )
        return
    admin_id = message.from_user.id if message.from_user else 0
    source = f"admin:{admin_id}:{message.chat.id}:{message.message_id}"  # one per message
    answer = await grant_plan(
        bot,
        texts,
        catalog,
        subscriptions,
        notifier,
        settings,
        user_id=user_id,
        plan_id=plan_id,
        days=days,
        source=source,
    )
    if answer is not None:
        await message.answer(answer)


# Grant by buttons: plan, days, confirmation ------------------------------------------------------
@router.callback_query(AdminUser.filter(F.action == UserAct.GRANT))
async def grant_choose_plan(
    query: CallbackQuery, callback_data: AdminUser, bot: Bot, texts: Texts, catalog: Catalog
) -> None:
    """ "Grant" on a user card: choose the plan."""
    await query.answer()
    user_id = callback_data.user_id
    await show(
        query,
        bot,
        texts("admin_choose_plan", user_id=user_id),
        grant_plans_keyboard(user_id, catalog.on_sale, texts),
    )


@router.callback_query(AdminUser.filter(F.action == UserAct.PLAN))
async def grant_choose_days(
    query: CallbackQuery, callback_data: AdminUser, bot: Bot, texts: Texts, catalog: Catalog
) -> None:
    """A plan chosen: choose the days."""
    await query.answer()
    plan = catalog.plans_by_id[callback_data.plan_id]
    text = texts("admin_choose_days", plan=plan.name, user_id=callback_data.user_id)
    await show(query, bot, text, grant_days_keyboard(callback_data.user_id, plan.id, texts))


@router.callback_query(AdminUser.filter(F.action == UserAct.DAYS))
async def grant_confirm(
    query: CallbackQuery, callback_data: AdminUser, bot: Bot, texts: Texts, catalog: Catalog
) -> None:
    """Days chosen: ask for a confirmation."""
    await query.answer()
    data = callback_data
    plan = catalog.plans_by_id[data.plan_id]
    text = texts("admin_confirm_grant", plan=plan.name, days=data.days, user_id=data.user_id)
    yes = data.model_copy(update={"action": UserAct.GRANT_OK})
    await show(query, bot, text, yes_keyboard(texts, yes))


@router.callback_query(AdminUser.filter(F.action == UserAct.GRANT_OK))
async def grant_confirmed(
    query: CallbackQuery,
    callback_data: AdminUser,
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    notifier: Notifier,
    settings: Settings,
) -> None:
    """ "Yes" under a grant: grant once per confirmation message, however often pressed."""
    await query.answer()
    message = query.message
    where = f"{message.chat.id}:{message.message_id}" if message else f"query:{query.id}"
    answer = await grant_plan(
        bot,
        texts,
        catalog,
        subscriptions,
        notifier,
        settings,
        user_id=callback_data.user_id,
        plan_id=callback_data.plan_id,
        days=callback_data.days,
        source=f"admin:{query.from_user.id}:{where}",
    )
    if answer is not None:
        await show(query, bot, answer, with_back(texts))
