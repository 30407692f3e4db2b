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
from edge.views import METHOD_NAMES, payment_line, revenue_lines
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
    message: Message, bot: Bot, texts: Texts, payments: PaymentService, settings: Settings
) -> None:
    """/payments: pending, recent and not credited payments, with all-time totals (in
    several messages when long)."""
    pending = payments.with_status("pending")
    recent = sorted(payments.with_status("paid"), key=lambda p: p.paid_at or 0)[-RECENT:]
    unmatched = payments.unmatched()
    report = await revenue_report(payments.history(), settings.zone)

    def lines(items: list[Payment]) -> list[str]:
        return [payment_line(p, texts, settings.zone) for p in items]

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
        pending=len(pending),
        pending_list=_listed(lines(pending), PENDING_LISTED, texts),
        paid_list=_listed(lines(recent), RECENT, texts),
        unmatched=len(unmatched),
        unmatched_list=_listed(unmatched_lines, UNMATCHED_LISTED, texts),
        total=Raw(_totals(report.total, texts)),
    )
    await send_long(bot, message.chat.id, text)


# The panel's section ---------------------------------------------------------------------------
@router.callback_query(AdminMenu.filter(F.section == Section.PAYMENTS))
async def payments_section(
    query: CallbackQuery, bot: Bot, texts: Texts, payments: PaymentService, settings: Settings
) -> None:
    """The panel's "Payments": pending ones, revenue by day, month and method, the totals.
    Pending ones that do not fit follow as messages; the totals stay on the screen."""
    await query.answer()
    report = await revenue_report(payments.history(), settings.zone)
    week_ago = (dt.datetime.now(settings.zone) - dt.timedelta(days=6)).date().isoformat()
    months = dict(sorted(report.by_month.items())[-MONTHS_IN_SECTION:])
    pending = payments.with_status("pending")[-PENDING_IN_SECTION:]
    items = [
        texts(
            "admin_pending_item",
            payment_id=p.id,
            method=METHOD_NAMES.get(p.method, p.method),
            plan=p.plan_id,
            amount=f"{p.amount:g}",
            user_id=p.user_id,
            receipt=texts("admin_pending_receipt") if p.receipt_sent else "",
        )
        for p in pending
    ]

    def render(shown: Sequence[str], left_out: int) -> str:
        below = [texts("admin_list_below", count=left_out)] if left_out else []
        return texts(
            "admin_payments_section",
            pending=Raw("\n".join([*shown, *below]) or texts("none")),
            by_day=Raw(
                revenue_lines({k: v for k, v in report.by_day.items() if k >= week_ago}, texts)
            ),
            by_month=Raw(revenue_lines(months, texts)),
            by_method=Raw(revenue_lines(report.by_method, texts)),
            total=Raw(_totals(report.total, texts)),
        )

    screen = fit_screen(render, items)
    await show_screen(query, bot, screen, payments_section_keyboard(pending, texts))


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
