"""/invite: the user's personal invite link and what it has brought them."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from edge.callbacks import OpenScreen, Screen
from edge.views import bonus_text
from services.catalog import Catalog
from services.models import UserRecord
from services.money.referrals import ReferralService, invite_link
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
    if bonus is None:
        offer = texts("invite_no_bonus")
    else:
        plan = catalog.plans_by_id.get(bonus.plan or "")
        what = bonus_text(texts, bonus.days, plan.name if plan else None, bonus.requests)
        offer = texts("invite_bonus", bonus=Raw(what))
    await message.answer(
        texts("invite", link=link, offer=Raw(offer), invited=invited, rewarded=rewarded)
    )


@router.callback_query(OpenScreen.filter(F.screen == Screen.INVITE))
async def invite_button(
    query: CallbackQuery,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    referrals: ReferralService,
    catalog: Catalog,
) -> None:
    """/start's Invite button."""
    await query.answer()
    if isinstance(query.message, Message):
        await invite(query.message, bot, user, texts, referrals, catalog)
