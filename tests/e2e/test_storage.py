"""DATA_DIR through the real bot process: upgrade, damaged files, a catalog that drops a plan."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.e2e.conftest import ADMIN, ROOT, StartBot
from tests.e2e.test_admin import write_users
from tests.stubs.telegram_server import FakeTelegram

USER = 950
DAY = 86400.0


def old_format_money(data_dir: Path) -> str:
    """Files as the previous version wrote them (one JSON list each); returns a pending id."""
    now = time.time()
    payment = {
        "id": "0a1b2c3d4e5f",
        "user_id": USER,
        "plan_id": "premium1",
        "method": "sbp",
        "amount": 675.0,
        "currency": "RUB",
        "status": "pending",
        "created_at": now - 600,
        "updated_at": now - 600,
        "receipt_sent": True,
    }
    subscription = {
        "user_id": USER,
        "plan_id": "power_group",
        "periods": [{"start": now - 5 * DAY, "end": now + 25 * DAY, "source": "admin:1:x"}],
        "reminders_sent": [],
    }
    promo = {
        "code": "OLDCODE",
        "plan_id": "ai_group",
        "days": 7,
        "max_uses": 5,
        "valid_until": None,
        "created_at": now - 9 * DAY,
        "created_by": ADMIN,
        "activations": [{"user_id": USER, "at": now - 8 * DAY}],
        "disabled": False,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "payments.json").write_text(json.dumps([payment]))
    (data_dir / "subscriptions.json").write_text(json.dumps([subscription]))
    (data_dir / "promo_codes.json").write_text(json.dumps([promo]))
    return str(payment["id"])


async def test_the_previous_versions_data_dir_is_upgraded_and_kept(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    pending_id = old_format_money(data_dir)
    originals = {p.name: p.read_bytes() for p in data_dir.glob("*.json")}
    await start_bot()
    telegram.user_message(USER, "/profile")
    await telegram.wait_for_message(USER, "Power Group")
    telegram.user_message(USER, "/promo OLDCODE")
    await telegram.wait_for_message(USER, "уже активировали")
    telegram.user_message(ADMIN, f"/confirm {pending_id}")
    await telegram.wait_for_message(ADMIN, "подтверждён")
    await telegram.wait_for_message(USER, "Premium 1")
    (backup,) = data_dir.glob("backup-format1-*")
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == originals
    for name in originals:
        assert (data_dir / name).read_bytes().startswith(b'{"format":2')


async def test_damaged_statistics_and_user_files_are_set_aside_and_reported(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    write_users(data_dir, range(960, 963))
    (data_dir / "users" / "961.json").write_text('{"id": 961, "first_na')
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date().isoformat()
    (data_dir / "stats").mkdir()
    (data_dir / "stats" / f"{today}.json").write_bytes(b"")
    bot = await start_bot()
    alert = await telegram.wait_for_message(ADMIN, "Damaged statistics file")
    assert "quarantine" in alert.text
    telegram.user_message(961, "/start")
    await telegram.wait_for_message(961, "Привет")
    await telegram.wait_for_message(ADMIN, "961.json")
    telegram.user_message(ADMIN, "/broadcast Новости")
    preview = await telegram.wait_for_message(ADMIN, "Так увидят рассылку")
    assert "рассылку 4 " in preview.text  # 960, 962, 961 registered anew, and the admin
    assert len(list((data_dir / "quarantine").rglob("*.json.*"))) == 2
    assert "Traceback" not in bot.log_text()


async def test_a_damaged_money_file_stops_start_up_with_one_line(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "subscriptions.json").write_text('{"format":2,"table":"subscriptions","next_')
    bot = await start_bot(wait_polling=False)
    assert await bot.wait() == 2
    log = bot.log_text()
    assert "subscriptions.json is damaged" in log and "Restore it from" in log
    assert "Traceback" not in log
    assert telegram.pollers == 0


async def test_a_catalog_that_drops_a_plan_in_use_stops_start_up(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path, tmp_path: Path
) -> None:
    old_format_money(data_dir)
    catalog = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    block_start = catalog.index('id = "premium1"')
    block_start = catalog.rindex("[[plans]]", 0, block_start)
    block_end = catalog.index("[[plans]]", block_start + 1)
    dropped = tmp_path / "dropped.toml"
    dropped.write_text(catalog[:block_start] + catalog[block_end:], encoding="utf-8")
    bot = await start_bot({"CATALOG_PATH": str(dropped)}, wait_polling=False)
    assert await bot.wait() == 2
    log = bot.log_text()
    assert "'premium1'" in log and "retired = true" in log and "Traceback" not in log

    retired = tmp_path / "retired.toml"
    block = catalog[block_start:block_end]
    retired.write_text(
        catalog[:block_start] + block.rstrip() + "\nretired = true\n\n" + catalog[block_end:],
        encoding="utf-8",
    )
    await start_bot({"CATALOG_PATH": str(retired)})
    telegram.user_message(USER, "/plans")
    plans = await telegram.wait_for_message(USER, "Тарифы")
    assert "Premium 1" not in plans.text and "AI Group" in plans.text
