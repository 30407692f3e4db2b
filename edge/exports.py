"""Files the bot uploads to an admin: the payments CSV, split and zipped to fit Telegram's
upload limit. Scratch files in a folder the caller owns (a temporary directory), not
state: the records stay in storage."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

from services.models import Payment
from services.operator.reports import CSV_FIELDS, csv_row

# Telegram bots upload files up to 50 MB: each export part stays below this.
EXPORT_PART_BYTES = 45 * 1024 * 1024
SEPARATOR = ";"  # what a Russian Excel splits columns at (its list separator)


def _cell(value: object) -> object:
    """A float with a decimal comma (1524,75), as the Russian Excel reads a number."""
    return str(value).replace(".", ",") if isinstance(value, float) else value


async def export_payments(
    payments: AsyncIterator[Payment], zone: ZoneInfo, folder: Path, stem: str
) -> list[Path]:
    """Every payment as CSV files under `folder`, as a Russian Excel opens them in columns:
    `;` between fields, decimal commas, UTF-8 with a BOM (without it Excel reads cp1251).

    One `<stem>.csv` when it fits Telegram's upload limit; otherwise parts of at most
    EXPORT_PART_BYTES, each zipped. Rows are written a batch at a time in a thread.
    """
    parts: list[Path] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=SEPARATOR)
    size = 0

    def new_part() -> Path:
        path = folder / f"{stem}-part{len(parts) + 1}.csv"
        path.write_bytes(("\ufeff" + SEPARATOR.join(CSV_FIELDS) + "\r\n").encode())
        parts.append(path)
        return path

    current = await asyncio.to_thread(new_part)
    flush_at = min(256 * 1024, EXPORT_PART_BYTES // 4)
    async for payment in payments:
        writer.writerow([_cell(value) for value in csv_row(payment, zone)])
        if buffer.tell() >= flush_at:
            chunk = buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            if size + len(chunk) > EXPORT_PART_BYTES:
                current, size = await asyncio.to_thread(new_part), 0
            await asyncio.to_thread(_append, current, chunk)
            size += len(chunk)
    chunk = buffer.getvalue().encode()
    if size + len(chunk) > EXPORT_PART_BYTES:
        current = await asyncio.to_thread(new_part)
    await asyncio.to_thread(_append, current, chunk)
    if len(parts) == 1:
        single = folder / f"{stem}.csv"
        parts[0].replace(single)
        return [single]
    return [await asyncio.to_thread(_zip, part) for part in parts]


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


def _zip(path: Path) -> Path:
    target = path.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, arcname=path.name)
    path.unlink()
    return target
