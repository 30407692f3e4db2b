"""Revoke plans: by /revoke and by the buttons on a user's card (one plan or all, then
a confirmation), the user told of each plan ended."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from edge.admin_keyboards import revoke_plans_keyboard, with_back, yes_keyboard
from edge.callbacks import AdminUser, UserAct
from edge.editing import show
from edge.notifier import Notifier
from edge.views import plan_ids
from services.catalog import Catalog
from services.money.subscriptions import SubscriptionService
from services.operator.admin_input import echo, typed_user_id
from texts import Texts

logger = logging.getLogger(__name__)
router = Router(name=__name__)


# The action, shared by the command and the buttons ------------------------------------------
async def revoke_plans(
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    notifier: Notifier,
    *,
    user_id: int,
    plan_id: str | None,
) -> str:
    """End one plan (or all) now and tell the user; the admin's answer."""
    revoked = await subscriptions.revoke(user_id, plan_id)
    if not revoked:
        suffix = f" ({plan_id})" if plan_id else ""
        return texts("admin_nothing_to_revoke", user_id=user_id, plan=suffix)
    names = [catalog.plans_by_id[pid].name for pid in revoked]
    logger.info("Admin revoked %s from %s", revoked, user_id)
    for name in names:
        await notifier.tell_user(bot, user_id, "revoked_notice", plan=name)
    return texts("admin_revoked", user_id=user_id, plans=", ".join(names))


@router.message(Command("revoke"))
async def revoke_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    notifier: Notifier,
) -> None:
    """/revoke USER_ID [PLAN]: end one plan or all of them now."""
    args = (command.args or "").split()
    user_id = typed_user_id(args[0]) if args else None
    if len(args) not in (1, 2) or user_id is None:
        await message.answer(texts("admin_revoke_usage", plans=plan_ids(catalog)))
        return
    if not user_id:
        await message.answer(texts("admin_user_id_range"))
        return
    plan_id = args[1] if len(args) == 2 else None
    if plan_id is not None and plan_id not in catalog.plans_by_id:
        await message.answer(
            texts("admin_unknown_plan", plan=echo(plan_id), plans=plan_ids(catalog))
        )
        return
    await message.answer(
        await revoke_plans(
            bot, texts, catalog, subscriptions, notifier, user_id=user_id, plan_id=plan_id
        )
    )


# Revoke by buttons: plan, confirmation ------------------------------------------------------
@router.callback_query(AdminUser.filter(F.action == UserAct.REVOKE))
async def revoke_choose_plan(
    query: CallbackQuery,
    callback_data: AdminUser,
    bot: Bot,
    texts: Texts,
    subscriptions: SubscriptionService,
) -> None:
    """ "Revoke" on a user card: choose one active plan, or all."""
    await query.answer()
    user_id = callback_data.user_id
    active = [item.plan for item in subscriptions.active_plans(user_id)]
    await show(
        query,
        bot,
        texts("admin_choose_plan", user_id=user_id),
        revoke_plans_keyboard(user_id, active, texts),
    )


@router.callback_query(AdminUser.filter(F.action == UserAct.REVOKE_ASK))
async def revoke_confirm(
    query: CallbackQuery, callback_data: AdminUser, bot: Bot, texts: Texts, catalog: Catalog
) -> None:
    """A plan (or all) chosen: ask for a confirmation."""
    await query.answer()
    data = callback_data
    name = catalog.plans_by_id[data.plan_id].name if data.plan_id else texts("btn_all_plans")
    yes = data.model_copy(update={"action": UserAct.REVOKE_OK})
    await show(
        query,
        bot,
        texts("admin_confirm_revoke", plan=name, user_id=data.user_id),
        yes_keyboard(texts, yes),
    )


@router.callback_query(AdminUser.filter(F.action == UserAct.REVOKE_OK))
async def revoke_confirmed(
    query: CallbackQuery,
    callback_data: AdminUser,
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    notifier: Notifier,
) -> None:
    """ "Yes" under a revoke."""
    await query.answer()
    answer = await revoke_plans(
        bot,
        texts,
        catalog,
        subscriptions,
        notifier,
        user_id=callback_data.user_id,
        plan_id=callback_data.plan_id or None,
    )
    await show(query, bot, answer, with_back(texts))
