"""/stats and the panel's Statistics: figures and the 30-day chart."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from config import Settings
from edge.admin_keyboards import stats_keyboard
from edge.callbacks import AdminMenu, Section
from edge.long_messages import send_long
from services.catalog import Catalog
from services.limits.quota import VOICE_KEY
from services.money.payments import PaymentService
from services.money.referrals import ReferralService
from services.money.subscriptions import SubscriptionService
from services.operator.chart import ChartLabels, daily_chart
from services.operator.reports import Revenue, StatsReport, stats_report
from services.operator.stats import FREE, StatsService
from services.users import UsersService
from texts import Raw, Texts, formatting

router = Router(name=__name__)
TOP_SPENDERS = 10


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
    """/stats: figures, margins per plan and the 30-day chart; top spenders and inviters
    one button away."""
    sources = Sources(users, subscriptions, payments, stats)
    await send_statistics(bot, message.chat.id, texts, sources, catalog, settings)


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
    sources = Sources(users, subscriptions, payments, stats)
    await send_statistics(bot, query.from_user.id, texts, sources, catalog, settings)


@dataclass(slots=True, frozen=True)
class Sources:
    users: UsersService
    subscriptions: SubscriptionService
    payments: PaymentService
    stats: StatsService


async def send_statistics(
    bot: Bot, chat_id: int, texts: Texts, sources: Sources, catalog: Catalog, settings: Settings
) -> None:
    report = await stats_report(
        sources.users,
        sources.subscriptions,
        sources.payments,
        sources.stats,
        settings.zone,
        settings.star_rub_rate,
    )
    await send_report(bot, chat_id, report, texts, catalog, settings)


def _money(revenue: Revenue, texts: Texts) -> str:
    rub = formatting.number(round(revenue.rub, 2), texts.language, group_from=4)
    stars = formatting.number(revenue.stars, texts.language, group_from=4)
    nbsp = formatting.NBSP
    return f"{rub}{nbsp}₽, {stars}{nbsp}⭐ ({revenue.count})"


def _cost(catalog: Catalog, model_key: str, cost: float | None, texts: Texts) -> str:
    model = catalog.models_by_key.get(model_key)
    if model is None or model.price_input is None:
        return texts("admin_cost_unknown")  # never shown as zero
    return f"{cost or 0.0:.2f}"


async def send_report(
    bot: Bot, chat_id: int, report: StatsReport, texts: Texts, catalog: Catalog, settings: Settings
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
            cost=_cost(catalog, row.model, report.cost_by_model.get(row.model), texts),
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
        rev_today=_money(report.revenue_today, texts),
        rev_7d=_money(report.revenue_7d, texts),
        rev_30d=_money(report.revenue_30d, texts),
        models=Raw("\n".join(model_lines) or texts("none")),
        voice=Raw(_voice_cost(report, texts)),
        refusals=report.refusals_30d,
        rate=f"{settings.usd_rub_rate:g}",
        star_rate=f"{settings.star_rub_rate:g}",
        cost_today=f"{report.cost_since(1):.2f}",
        cost_7d=f"{report.cost_since(7):.2f}",
        cost_30d=f"{report.cost_since(30):.2f}",
        margin_today=f"{report.margin_since(1):.2f}",
        margin_7d=f"{report.margin_since(7):.2f}",
        margin_30d=f"{report.margin_since(30):.2f}",
        unpriced=texts("admin_stats_unpriced", count=report.unpriced) if report.unpriced else "",
        plans_margin=Raw(_plan_margins(report, catalog, texts) or texts("none")),
    )
    await send_long(bot, chat_id, text, stats_keyboard(texts))
    png = await asyncio.to_thread(
        daily_chart,
        report.days,
        report.revenue_by_day,
        report.new_users_by_day,
        chart_labels(texts),
        report.cost_by_day,
    )
    await bot.send_photo(chat_id, BufferedInputFile(png, filename="stats.png"))


def chart_labels(texts: Texts) -> ChartLabels:
    return ChartLabels(
        title=texts("admin_chart_title"),
        revenue=texts("admin_chart_revenue"),
        cost=texts("admin_chart_cost"),
        new_users=texts("admin_chart_users"),
        money_axis=texts("admin_chart_money_axis"),
        users_axis=texts("admin_chart_users_axis"),
    )


def _voice_cost(report: StatsReport, texts: Texts) -> str:
    cost = report.cost_by_model.get(VOICE_KEY)
    return texts("admin_stats_voice", cost=f"{cost:.2f}") if cost else ""


def _plan_margins(report: StatsReport, catalog: Catalog, texts: Texts) -> str:
    lines = []
    for row in report.plan_margins():
        plan = catalog.plans_by_id.get(row.plan_id)
        name = (
            texts("admin_free_tier") if row.plan_id == FREE else plan.name if plan else row.plan_id
        )
        lines.append(
            texts(
                "admin_stats_plan_margin",
                plan=name,
                revenue=f"{row.revenue:.2f}",
                cost=f"{row.cost:.2f}",
                margin=f"{row.margin:.2f}",
            )
        )
    return "\n".join(lines)


@router.callback_query(AdminMenu.filter(F.section == Section.TOP_SPENDERS))
async def top_spenders(
    query: CallbackQuery, bot: Bot, texts: Texts, stats: StatsService, users: UsersService
) -> None:
    """The 10 users who cost the most this month."""
    await query.answer()
    lines = []
    for user_id, cost in await stats.top_spenders(TOP_SPENDERS):
        name = await _name(users, user_id)
        lines.append(
            texts("admin_top_spender_line", user_id=user_id, name=name, cost=f"{cost:.2f}")
        )
    text = (
        texts("admin_top_spenders", lines=Raw("\n".join(lines)))
        if lines
        else texts("admin_top_spenders_none")
    )
    await send_long(bot, query.from_user.id, text)


@router.callback_query(AdminMenu.filter(F.section == Section.TOP_INVITERS))
async def top_inviters(
    query: CallbackQuery, bot: Bot, texts: Texts, referrals: ReferralService, users: UsersService
) -> None:
    """The users who invited the most (by friends who paid, then by friends invited)."""
    await query.answer()
    lines = [
        texts(
            "admin_stats_referral_line",
            user=await _name(users, row.user_id) or "—",
            user_id=row.user_id,
            invited=row.invited,
            rewarded=row.rewarded,
        )
        for row in referrals.top()
    ]
    text = (
        texts("admin_stats_referrals", lines=Raw("\n".join(lines)))
        if lines
        else texts("admin_stats_referrals_none")
    )
    await send_long(bot, query.from_user.id, text)


async def _name(users: UsersService, user_id: int) -> str:
    user = await users.get(user_id)
    if user is None:
        return ""
    return f"@{user.username}" if user.username else user.first_name
