"""Payment reports: /payments (pending, recent, not credited, totals), the panel's
"Payments" (pending ones, revenue by day, month and method) and the CSV export."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, FSInputFile, Message

from config import Settings
from edge.admin_keyboards import payments_section_keyboard
from edge.callbacks import AdminMenu, Section
from edge.exports import export_payments
from edge.long_messages import send_long, show_screen
from edge.views import (
    METHOD_NAMES,
    amount_text,
    needs_manager,
    payment_line,
    payment_ref,
    plan_name,
    revenue_lines,
)
from services.catalog import Catalog
from services.chat.formatting import fit_screen
from services.models import Payment
from services.money.payments import PaymentService
from services.operator.reports import Revenue, revenue_report
from texts import Raw, Texts

router = Router(name=__name__)

RECENT = 15  # paid payments listed
PENDING_LISTED = 20  # in /payments (all are counted)
UNMATCHED_LISTED = 50  # money not credited: each needs a decision, so list them all but a flood
PENDING_IN_SECTION = 10
MONTHS_IN_SECTION = 12  # revenue by month on the panel (the CSV has every payment)


def _listed(lines: list[str], limit: int, texts: Texts) -> Raw:
    """The newest `limit` lines, and how many older ones are left out."""
    shown = lines[-limit:]
    older = [texts("admin_list_older", count=len(lines) - len(shown))] if shown != lines else []
    return Raw("\n".join(older + shown) or texts("none"))


def _totals(total: Revenue, texts: Texts) -> str:
    return texts(
        "admin_payments_total",
        rub=f"{total.rub:g}",
        stars=f"{total.stars:g}",
        count=total.count,
    )


@router.message(Command("payments"))
async def payments_command(
    message: Message,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    settings: Settings,
    catalog: Catalog,
) -> None:
    """/payments: pending (those a manager must decide apart from those waiting for the
    user), recent and not credited payments, with all-time totals (in
    several messages when long)."""
    pending = payments.with_status("pending")
    manager = [p for p in pending if needs_manager(p)]
    waiting = [p for p in pending if not needs_manager(p)]
    recent = sorted(payments.with_status("paid"), key=lambda p: p.paid_at or 0)[-RECENT:]
    unmatched = payments.unmatched()
    report = await revenue_report(payments.history(), settings.zone)

    def lines(items: list[Payment]) -> list[str]:
        return [payment_line(p, texts, settings.zone, catalog) for p in items]

    unmatched_lines = [
        texts(
            "admin_unmatched_line",
            money_id=item.id,
            amount=f"{item.amount:g} {item.currency}",
            payment_id=item.payment_id or "—",
            user_id=item.user_id or "—",
            reason=item.reason,
        )
        for item in unmatched
    ]
    text = texts(
        "admin_payments",
        manager=len(manager),
        manager_list=_listed(lines(manager), PENDING_LISTED, texts),
        waiting=len(waiting),
        waiting_list=_listed(lines(waiting), PENDING_LISTED, texts),
        paid_list=_listed(lines(recent), RECENT, texts),
        unmatched=len(unmatched),
        unmatched_list=_listed(unmatched_lines, UNMATCHED_LISTED, texts),
        total=Raw(_totals(report.total, texts)),
    )
    await send_long(bot, message.chat.id, text)


# The panel's section ---------------------------------------------------------------------------
@router.callback_query(AdminMenu.filter(F.section == Section.PAYMENTS))
async def payments_section(
    query: CallbackQuery,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    settings: Settings,
    catalog: Catalog,
) -> None:
    """The panel's "Payments": the SBP requests a manager must decide (with their
    buttons), how many invoices wait for the user, revenue by day, month and method, the totals.
    Pending ones that do not fit follow as messages; the totals stay on the screen."""
    await query.answer()
    report = await revenue_report(payments.history(), settings.zone)
    week_ago = (dt.datetime.now(settings.zone) - dt.timedelta(days=6)).date().isoformat()
    months = dict(sorted(report.by_month.items())[-MONTHS_IN_SECTION:])
    pending = payments.with_status("pending")
    manager = [p for p in pending if needs_manager(p)][-PENDING_IN_SECTION:]
    waiting = len(pending) - len([p for p in pending if needs_manager(p)])
    items = [
        texts(
            "admin_pending_item",
            payment_id=payment_ref(p),
            method=METHOD_NAMES.get(p.method, p.method),
            plan=plan_name(catalog, p.plan_id),
            amount=amount_text(p, texts),
            user_id=p.user_id,
        )
        for p in manager
    ]

    def render(shown: Sequence[str], left_out: int) -> str:
        below = [texts("admin_list_below", count=left_out)] if left_out else []
        return texts(
            "admin_payments_section",
            pending=Raw("\n".join([*shown, *below]) or texts("none")),
            waiting=waiting,
            by_day=Raw(
                revenue_lines({k: v for k, v in report.by_day.items() if k >= week_ago}, texts)
            ),
            by_month=Raw(revenue_lines(months, texts)),
            by_method=Raw(revenue_lines(report.by_method, texts)),
            total=Raw(_totals(report.total, texts)),
        )

    screen = fit_screen(render, items)
    sbp = [p for p in pending if p.method == "sbp"]  # a manager may confirm any of them
    sbp.sort(key=lambda p: not needs_manager(p))  # those the user says are paid first
    buttons = payments_section_keyboard(sbp[:PENDING_IN_SECTION], texts, catalog)
    await show_screen(query, bot, screen, buttons)


@router.callback_query(AdminMenu.filter(F.section == Section.EXPORT))
async def export_csv(
    query: CallbackQuery, bot: Bot, payments: PaymentService, settings: Settings
) -> None:
    """ "Export CSV": every payment, streamed into files under Telegram's upload limit."""
    await query.answer()
    with tempfile.TemporaryDirectory() as folder:
        stem = f"payments-{dt.datetime.now(settings.zone).date().isoformat()}"
        files = await export_payments(payments.history(), settings.zone, Path(folder), stem)
        for path in files:
            await bot.send_document(query.from_user.id, FSInputFile(path, filename=path.name))
