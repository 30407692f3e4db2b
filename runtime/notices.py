"""Messages the bot sends on its own, wired at start-up: alerts to admins, payment
notices to admins, referral rewards to inviters (all through the notifier)."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.types import InlineKeyboardMarkup

from config import Settings
from edge.notifier import Notifier
from edge.views import METHOD_NAMES, amount_text, bonus_text
from services.container import Services
from services.money.payments import CreditResult
from services.money.referrals import Reward
from services.users import UsersService
from texts import Raw, Texts, format_moment


class PaymentNotices:
    """Credit listener: tells the admins money came in (the user is told through the
    outbox, committed with the credit)."""

    def __init__(
        self, bot: Bot, notifier: Notifier, users: UsersService, settings: Settings
    ) -> None:
        self._bot = bot
        self._notifier = notifier
        self._users = users
        self._settings = settings

    async def on_credit(self, result: CreditResult) -> None:
        payment = result.payment
        user = await self._users.get(payment.user_id)
        end = format_moment(result.end, self._settings.zone)
        label = f"@{user.username}" if user and user.username else (user.first_name if user else "")

        def render(texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
            amount = amount_text(payment, texts)
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

        await self._notifier.tell_admins(self._bot, render)


async def tell_referral_reward(
    bot: Bot, notifier: Notifier, settings: Settings, reward: Reward
) -> None:
    """Tell an inviter, in their language, the bonus a friend's first payment gave them."""
    texts = await notifier.texts_for(reward.inviter_id)
    plan_name = reward.plan.name if reward.plan is not None else None
    bonus = bonus_text(texts, reward.days, plan_name, reward.requests)
    until = (
        texts("referral_reward_until", plan=plan_name, end=format_moment(reward.end, settings.zone))
        if plan_name is not None
        else ""
    )
    text = texts("referral_reward", bonus=Raw(bonus), until=Raw(until))
    await notifier.send(bot, reward.inviter_id, text)


def setup(
    dispatcher: Dispatcher, services: Services, notifier: Notifier, settings: Settings
) -> None:
    """At start-up: alerts and payment notices start going out through the bot."""

    async def connect(bot: Bot) -> None:
        await services.alerts.connect(lambda text: notifier.alert_admins(bot, text))
        notices = PaymentNotices(bot, notifier, services.users, settings)
        services.payments.credit_listeners.append(notices.on_credit)
        services.referrals.reward_listeners.append(
            lambda reward: tell_referral_reward(bot, notifier, settings, reward)
        )

    dispatcher.startup.register(connect)
