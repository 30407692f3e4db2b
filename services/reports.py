"""Money and usage reports for admins (plain data, no Telegram types)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.models import Payment

CSV_FIELDS = (
    "id",
    "user_id",
    "plan_id",
    "method",
    "amount",
    "currency",
    "status",
    "created_at",
    "paid_at",
    "received_amount",
    "operation_id",
    "charge_id",
    "decided_by",
    "note",
)


@dataclass(slots=True)
class Revenue:
    rub: float = 0.0
    stars: float = 0.0
    count: int = 0

    def add(self, payment: Payment) -> None:
        if payment.currency == "XTR":
            self.stars += payment.amount
        else:
            self.rub += payment.received_amount or payment.amount
        self.count += 1


def paid_day(payment: Payment, zone: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(payment.paid_at or payment.created_at, zone).date()


def revenue_since(payments: list[Payment], since: dt.date, zone: ZoneInfo) -> Revenue:
    total = Revenue()
    for payment in payments:
        if payment.status == "paid" and paid_day(payment, zone) >= since:
            total.add(payment)
    return total


def revenue_by(payments: list[Payment], zone: ZoneInfo, key: str) -> dict[str, Revenue]:
    """Paid revenue grouped by "day" (YYYY-MM-DD), "month" (YYYY-MM) or "method"."""
    groups: dict[str, Revenue] = defaultdict(Revenue)
    for payment in payments:
        if payment.status != "paid":
            continue
        day = paid_day(payment, zone)
        name = {"day": day.isoformat(), "month": day.isoformat()[:7]}.get(key, payment.method)
        groups[name].add(payment)
    return dict(sorted(groups.items()))


def payments_csv(payments: list[Payment], zone: ZoneInfo) -> bytes:
    """All payments as CSV (UTF-8 with BOM so spreadsheet programs read Cyrillic)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for payment in payments:
        row = []
        for name in CSV_FIELDS:
            value = getattr(payment, name)
            if name in ("created_at", "paid_at") and value:
                value = dt.datetime.fromtimestamp(value, zone).isoformat(timespec="seconds")
            row.append("" if value is None else value)
        writer.writerow(row)
    return ("\ufeff" + buffer.getvalue()).encode()
