"""Admin commands for subscriptions and promo codes (only for ADMIN_IDS)."""

from __future__ import annotations

import datetime as dt
import logging

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from config import Settings
from handlers.views import promo_line, tell_user
from services.catalog import Catalog
from services.promo import PromoError, PromoService
from services.subscriptions import SubscriptionService
from services.users import UsersService
from texts import Raw, Texts, format_moment

logger = logging.getLogger(__name__)


router = Router(name=__name__)  # included under the admin-only router (handlers/__init__.py)


def _plan_ids(catalog: Catalog) -> str:
    return ", ".join(plan.id for plan in catalog.on_sale)


@router.message(Command("grant"))
async def grant(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    users: UsersService,
    settings: Settings,
) -> None:
    """/grant USER_ID PLAN DAYS: give or extend a plan."""
    args = (command.args or "").split()
    if len(args) != 3 or not args[0].isdigit() or not args[2].isdigit() or int(args[2]) < 1:
        await message.answer(texts("admin_grant_usage", plans=_plan_ids(catalog)))
        return
    user_id, plan_id, days = int(args[0]), args[1], int(args[2])
    if plan_id not in catalog.plans_by_id:
        await message.answer(texts("admin_unknown_plan", plan=plan_id, plans=_plan_ids(catalog)))
        return
    admin_id = message.from_user.id if message.from_user else 0
    # One grant per /grant message: a re-delivered update grants nothing more.
    source = f"admin:{admin_id}:{message.chat.id}:{message.message_id}"
    if subscriptions.has_source(user_id, source):
        return  # the same command delivered again: granted once already
    subscription = await subscriptions.grant(user_id, plan_id, days, source)
    end = format_moment(subscription.end, settings.zone)
    plan = catalog.plans_by_id[plan_id]
    logger.info("Admin %s granted %s for %d days to %s", admin_id, plan_id, days, user_id)
    await message.answer(
        texts("admin_granted", user_id=user_id, plan=plan.name, days=days, end=end)
    )
    await tell_user(
        bot,
        users,
        user_id,
        "granted_notice",
        plan=plan.name,
        end=end,
        models=catalog.model_names(plan),
    )


@router.message(Command("revoke"))
async def revoke(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    catalog: Catalog,
    subscriptions: SubscriptionService,
    users: UsersService,
) -> None:
    """/revoke USER_ID [PLAN]: end one plan or all of them now."""
    args = (command.args or "").split()
    if len(args) not in (1, 2) or not args[0].isdigit():
        await message.answer(texts("admin_revoke_usage", plans=_plan_ids(catalog)))
        return
    user_id = int(args[0])
    plan_id = args[1] if len(args) == 2 else None
    if plan_id is not None and plan_id not in catalog.plans_by_id:
        await message.answer(texts("admin_unknown_plan", plan=plan_id, plans=_plan_ids(catalog)))
        return
    revoked = await subscriptions.revoke(user_id, plan_id)
    if not revoked:
        suffix = f" ({plan_id})" if plan_id else ""
        await message.answer(texts("admin_nothing_to_revoke", user_id=user_id, plan=suffix))
        return
    names = [catalog.plans_by_id[pid].name for pid in revoked]
    logger.info("Admin revoked %s from %s", revoked, user_id)
    await message.answer(texts("admin_revoked", user_id=user_id, plans=", ".join(names)))
    for name in names:
        await tell_user(bot, users, user_id, "revoked_notice", plan=name)


@router.message(Command("promo_new"))
async def promo_new(
    message: Message,
    command: CommandObject,
    texts: Texts,
    catalog: Catalog,
    promo: PromoService,
) -> None:
    """/promo_new CODE PLAN DAYS [MAX_USES] [YYYY-MM-DD]: create a promo code."""
    args = (command.args or "").split()
    usage = texts("admin_promo_new_usage", plans=_plan_ids(catalog))
    if not 3 <= len(args) <= 5 or not args[2].isdigit():
        await message.answer(usage)
        return
    code, plan_id, days = args[0], args[1], int(args[2])
    max_uses: int | None = None
    valid_until: dt.date | None = None
    try:
        for extra in args[3:]:
            if extra.isdigit() and max_uses is None and valid_until is None:
                max_uses = int(extra)
            else:
                valid_until = dt.date.fromisoformat(extra)
    except ValueError:
        await message.answer(usage)
        return
    if plan_id not in catalog.plans_by_id:
        await message.answer(texts("admin_unknown_plan", plan=plan_id, plans=_plan_ids(catalog)))
        return
    try:
        created = await promo.create(
            code,
            plan_id,
            days,
            created_by=message.from_user.id if message.from_user else 0,
            max_uses=max_uses,
            valid_until=valid_until,
        )
    except PromoError as error:
        await message.answer(texts(f"admin_promo_{error.reason}", code=code.upper()))
        return
    await message.answer(
        texts(
            "admin_promo_created",
            code=created.code,
            plan=catalog.plans_by_id[plan_id].name,
            days=days,
            max_uses=max_uses or texts("no_limit"),
            until=created.valid_until or texts("no_date"),
        )
    )


@router.message(Command("promo_list"))
async def promo_list(message: Message, texts: Texts, catalog: Catalog, promo: PromoService) -> None:
    """/promo_list: every code with its usage."""
    codes = promo.codes()
    if not codes:
        await message.answer(texts("admin_promo_empty"))
        return
    items = [promo_line(item, promo.uses(item.code), texts, catalog) for item in codes]
    # Long lists go out in several messages, each under Telegram's limit.
    chunk: list[str] = []
    for item in items:
        if sum(len(line) + 1 for line in chunk) + len(item) > 3800:
            await message.answer(texts("admin_promo_list", items=Raw("\n".join(chunk))))
            chunk = []
        chunk.append(item)
    await message.answer(texts("admin_promo_list", items=Raw("\n".join(chunk))))


@router.message(Command("promo_del"))
async def promo_del(
    message: Message, command: CommandObject, texts: Texts, promo: PromoService
) -> None:
    """/promo_del CODE: delete a promo code."""
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(texts("admin_promo_del_usage"))
        return
    code = args[0].upper()
    deleted = await promo.delete(code)
    await message.answer(
        texts("admin_promo_deleted" if deleted else "admin_promo_not_found", code=code)
    )
