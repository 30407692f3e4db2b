"""/stats and the panel's Statistics: figures and the 30-day chart."""

from __future__ import annotations

import asyncio

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from config import Settings
from handlers.callbacks import AdminMenu, Section
from services.catalog import Catalog
from services.chart import daily_chart
from services.payments import PaymentService
from services.reports import Revenue, StatsReport, stats_report
from services.stats import StatsService
from services.subscriptions import SubscriptionService
from services.users import UsersService
from texts import Raw, Texts

router = Router(name=__name__)


@router.message(Command("stats"))
async def stats_command(
    message: Message,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """/stats: figures and the 30-day chart."""
    report = await stats_report(users, subscriptions, payments, stats, settings.zone)
    await send_report(bot, message.chat.id, report, texts, catalog)


@router.callback_query(AdminMenu.filter(F.section == Section.STATS))
async def stats_section(
    query: CallbackQuery,
    bot: Bot,
    texts: Texts,
    users: UsersService,
    subscriptions: SubscriptionService,
    payments: PaymentService,
    stats: StatsService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """The panel's "Statistics": the same as /stats."""
    await query.answer()
    report = await stats_report(users, subscriptions, payments, stats, settings.zone)
    await send_report(bot, query.from_user.id, report, texts, catalog)


def _money(revenue: Revenue) -> str:
    return f"{revenue.rub:g} ₽, {revenue.stars:g} ⭐ ({revenue.count})"


async def send_report(
    bot: Bot, chat_id: int, report: StatsReport, texts: Texts, catalog: Catalog
) -> None:
    model_lines = [
        texts(
            "admin_stats_model",
            model=catalog.models_by_key[row.model].name
            if row.model in catalog.models_by_key
            else row.model,
            messages=row.messages,
            failures=row.failures,
            prompt=row.prompt_tokens,
            completion=row.completion_tokens,
        )
        for row in report.models
    ]
    plans = [
        f"{catalog.plans_by_id[plan_id].name}: {count}"
        for plan_id, count in report.active_by_plan.items()
        if plan_id in catalog.plans_by_id
    ]
    text = texts(
        "admin_stats",
        users_total=report.users_total,
        new_today=report.new_today,
        active_7d=report.active_7d,
        subs="\n".join(plans) or texts("none"),
        rev_today=_money(report.revenue_today),
        rev_7d=_money(report.revenue_7d),
        rev_30d=_money(report.revenue_30d),
        models=Raw("\n".join(model_lines) or texts("none")),
        refusals=report.refusals_30d,
    )
    await bot.send_message(chat_id, text)
    png = await asyncio.to_thread(
        daily_chart,
        report.days,
        report.revenue_by_day,
        report.new_users_by_day,
        texts("admin_chart_title"),
    )
    await bot.send_photo(chat_id, BufferedInputFile(png, filename="stats.png"))
