"""/invite: the user's personal invite link, a button to share it, and what it has
brought them (with no one invited yet, what it would bring)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from edge.callbacks import OpenScreen, Screen
from edge.keyboards import invite_keyboard
from edge.views import referral_bonus
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
    """/invite: the link, the bonus it earns, the counts so far, and Share."""
    me = await bot.me()
    link = invite_link(me.username or "", await referrals.code_for(user.id))
    invited, rewarded = referrals.counts(user.id)
    bonus = referral_bonus(texts, catalog)
    offer = texts("invite_no_bonus") if bonus is None else texts("invite_bonus", bonus=Raw(bonus))
    if invited:
        counts = texts("invite_counts", invited=invited, rewarded=rewarded)
    else:
        counts = texts("invite_none_yet")
    await message.answer(
        texts("invite", link=link, offer=Raw(offer), counts=Raw(counts)),
        reply_markup=invite_keyboard(link, texts),
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
    """/start's Invite button: the same screen as /invite."""
    await query.answer()
    if isinstance(query.message, Message):
        await invite(query.message, bot, user, texts, referrals, catalog)
