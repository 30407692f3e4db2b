"""Messages the bot sends on its own: alerts to admins, and payment notices to users."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup

from config import Settings
from edge.views import METHOD_NAMES, amount_text, bonus_text
from services.catalog import Catalog
from services.chat.formatting import split_lines, split_plain
from services.container import Services
from services.money.payments import CreditResult
from services.money.referrals import Reward
from services.users import UsersService
from texts import Raw, Texts, format_moment, get_texts

logger = logging.getLogger(__name__)


async def notify_admins(
    bot: Bot,
    admin_ids: frozenset[int],
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
    *,
    html: bool = True,
) -> None:
    """Send to every admin, in several messages when long (the buttons under the last);
    one unreachable admin does not stop the others."""
    parts = split_lines(text) if html else split_plain(text)
    for admin_id in admin_ids:
        try:
            for index, part in enumerate(parts):
                await bot.send_message(
                    admin_id,
                    part,
                    reply_markup=reply_markup if index == len(parts) - 1 else None,
                    parse_mode="HTML" if html else None,
                )
        except TelegramAPIError as error:
            logger.warning("Could not notify admin %s: %s", admin_id, error)


async def notify_each_admin(
    bot: Bot,
    users: UsersService,
    admin_ids: frozenset[int],
    render: Callable[[Texts], tuple[str, InlineKeyboardMarkup | None]],
) -> None:
    """Send every admin a message rendered in their own language."""
    for admin_id in admin_ids:
        text, markup = render(get_texts(await users.language(admin_id)))
        await notify_admins(bot, frozenset({admin_id}), text, markup)


class PaymentNotices:
    """Credit listener: tells the admins money came in (the user is told through the
    outbox, committed with the credit)."""

    def __init__(self, bot: Bot, users: UsersService, catalog: Catalog, settings: Settings) -> None:
        self._bot = bot
        self._users = users
        self._catalog = catalog
        self._settings = settings

    async def on_credit(self, result: CreditResult) -> None:
        payment = result.payment
        user = await self._users.get(payment.user_id)
        end = format_moment(result.end, self._settings.zone)
        label = f"@{user.username}" if user and user.username else (user.first_name if user else "")

        def render(texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
            amount = amount_text(payment)
            if payment.received_amount is not None:
                amount = texts(
                    "amount_received", amount=amount, received=f"{payment.received_amount:.2f}"
                )
            text = texts(
                "admin_paid",
                method=METHOD_NAMES.get(payment.method, payment.method),
                payment_id=payment.id,
                user=label or "—",
                user_id=payment.user_id,
                plan=result.plan.name,
                end=end,
                amount=amount,
            )
            return text, None

        await notify_each_admin(self._bot, self._users, self._settings.admin_ids, render)


async def tell_referral_reward(
    bot: Bot, users: UsersService, settings: Settings, reward: Reward
) -> None:
    """Tell an inviter, in their language, the bonus a friend's first payment gave them."""
    texts = get_texts(await users.language(reward.inviter_id))
    plan_name = reward.plan.name if reward.plan is not None else None
    bonus = bonus_text(texts, reward.days, plan_name, reward.requests)
    until = (
        texts("referral_reward_until", plan=plan_name, end=format_moment(reward.end, settings.zone))
        if plan_name is not None
        else ""
    )
    try:
        await bot.send_message(
            reward.inviter_id, texts("referral_reward", bonus=Raw(bonus), until=Raw(until))
        )
    except TelegramAPIError as error:
        logger.warning("Could not tell user %s about their bonus: %s", reward.inviter_id, error)


def setup(dispatcher: Dispatcher, services: Services, settings: Settings) -> None:
    """At start-up: alerts and payment notices start going out through the bot."""

    async def connect(bot: Bot) -> None:
        await services.alerts.connect(
            lambda text: notify_admins(bot, settings.admin_ids, text, html=False)
        )
        notices = PaymentNotices(bot, services.users, services.catalog, settings)
        services.payments.credit_listeners.append(notices.on_credit)
        services.referrals.reward_listeners.append(
            lambda reward: tell_referral_reward(bot, services.users, settings, reward)
        )

    dispatcher.startup.register(connect)
