"""/invite: the user's personal invite link and what it has brought them."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message

from services.catalog import Catalog
from services.models import UserRecord
from services.referrals import ReferralService, invite_link
from texts import Raw, Texts

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


@router.message(Command("invite"))
async def invite(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    referrals: ReferralService,
    catalog: Catalog,
) -> None:
    """/invite: the link, the bonus it earns, and the counts so far."""
    me = await bot.me()
    link = invite_link(me.username or "", await referrals.code_for(user.id))
    invited, rewarded = referrals.counts(user.id)
    bonus = catalog.referral
    plan = catalog.plans_by_id.get(bonus.plan) if bonus is not None else None
    offer = (
        texts("invite_bonus", days=bonus.days, plan=plan.name)
        if bonus is not None and plan is not None
        else texts("invite_no_bonus")
    )
    await message.answer(
        texts("invite", link=link, offer=Raw(offer), invited=invited, rewarded=rewarded)
    )
