"""Promo codes: the commands (the wizard is `promo_wizard`, the panel's list `promo_section`)."""

from __future__ import annotations

import datetime as dt

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from edge.long_messages import send_long
from edge.promo_codes import create_code
from edge.views import plan_ids, promo_lines, promo_total
from services.catalog import Catalog
from services.money.promo import PromoService
from services.operator.admin_input import (
    echo,
    typed_date,
    whole_number,
)
from texts import Raw, Texts

router = Router(name=__name__)


# Commands ---------------------------------------------------------------------------------
@router.message(Command("promo_new"))
async def promo_new(
    message: Message, command: CommandObject, texts: Texts, catalog: Catalog, promo: PromoService
) -> None:
    """/promo_new CODE PLAN DAYS [MAX_USES] [YYYY-MM-DD]: create a promo code."""
    args = (command.args or "").split()
    usage = texts("admin_promo_new_usage", plans=plan_ids(catalog))
    days = whole_number(args[2]) if 3 <= len(args) <= 5 else None
    if days is None:
        await message.answer(usage)
        return
    max_uses: int | None = None
    valid_until: dt.date | None = None
    for extra in args[3:]:
        number = whole_number(extra)
        if number is not None and max_uses is None and valid_until is None:
            max_uses = number
        elif (valid_until := typed_date(extra)) is None:
            await message.answer(usage)
            return
    answer = await create_code(
        texts,
        catalog,
        promo,
        code=args[0],
        plan_id=args[1],
        days=days,
        created_by=message.from_user.id if message.from_user else 0,
        max_uses=max_uses,
        valid_until=valid_until,
    )
    await message.answer(answer)


@router.message(Command("promo_list"))
async def promo_list(
    message: Message, bot: Bot, texts: Texts, catalog: Catalog, promo: PromoService
) -> None:
    """/promo_list: every code with its usage, and the totals (in several messages when
    long)."""
    codes = promo.codes()
    if not codes:
        await message.answer(texts("admin_promo_empty"))
        return
    items = Raw("\n".join(promo_lines(codes, texts, catalog, promo)))
    text = texts("admin_promo_list", items=items, total=promo_total(codes, texts, promo))
    await send_long(bot, message.chat.id, text)


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
        texts("admin_promo_deleted" if deleted else "admin_promo_not_found", code=echo(code))
    )
