"""The admin side through the real bot process: panel, guard, stats, CSV, broadcasts."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections import Counter
from pathlib import Path

from edge.callbacks import (
    AdminBroadcast,
    AdminMenu,
    AdminPayment,
    AdminPromo,
    AdminUser,
    BroadcastAct,
    PaymentAct,
    PromoAct,
    Section,
    UserAct,
)
from tests.e2e.conftest import ADMIN, StartBot, money_records
from tests.factories import callback_prefix
from tests.stubs.telegram_server import FakeTelegram

USER = 4242
PROBER = 4343  # presses the buttons: one user's burst of ~50 updates would meet flood control

ADMIN_COMMANDS = (
    "/admin",
    "/stats",
    "/payments",
    "/grant 4242 premium1 30",
    "/revoke 4242",
    "/promo_new HACK premium1 30",
    "/promo_list",
    "/promo_del HACK",
    "/broadcast hi",
    "/confirm abc",
    "/reject abc",
    "/refund abc",
)
ADMIN_CALLBACKS = (
    *(AdminMenu(section=section).pack() for section in Section),
    *(AdminUser(action=action, user_id=4242).pack() for action in UserAct),
    AdminUser(action=UserAct.GRANT_OK, user_id=4242, plan_id="premium1", days=30).pack(),
    *(AdminPromo(action=action, code="SPRING").pack() for action in PromoAct),
    *(AdminPayment(action=action, payment_id="abc").pack() for action in PaymentAct),
    *(AdminBroadcast(action=action, broadcast_id="abc").pack() for action in BroadcastAct),
)


def write_users(data_dir: Path, user_ids: range, *, blocked: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """Users registered earlier (as the bot itself writes them)."""
    folder = data_dir / "users"
    folder.mkdir(parents=True, exist_ok=True)
    for user_id in user_ids:
        record = {
            "id": user_id,
            "first_name": f"u{user_id}",
            "username": None,
            "language": "ru",
            "model_key": "gpt-4.1-nano",
            "created_at": time.time(),
            "blocked": user_id in blocked,
        }
        (folder / f"{user_id}.json").write_text(json.dumps(record))


async def wait_answer(telegram: FakeTelegram, query: str) -> dict[str, object]:
    return await telegram.wait_for(lambda: telegram.callback_answer(query))


async def test_every_admin_command_and_button_is_inert_for_others(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    telegram.user_message(ADMIN, "/promo_new SPRING premium1 30")
    await telegram.wait_for_message(ADMIN, "SPRING")
    for command in ADMIN_COMMANDS:
        after = telegram.last_id(USER)
        telegram.user_message(USER, command)
        reply = await telegram.wait_for_message(USER, after=after)
        assert "Не знаю такой команды" in reply.text, command
    # Two probers share the buttons, so neither passes flood control's burst meanwhile.
    probers = (PROBER, PROBER + 1)
    starts = {}
    for prober in probers:
        telegram.user_message(prober, "/start")
        starts[prober] = await telegram.wait_for_message(prober, "Привет")
    for number, data in enumerate(ADMIN_CALLBACKS):
        prober = probers[number % 2]
        query = telegram.press_button(prober, starts[prober].message_id, data)
        answer = await wait_answer(telegram, query)
        assert not answer.get("text"), data
    await asyncio.sleep(0.3)
    for prober in probers:  # nothing else was sent
        assert [m.text for m in telegram.messages(prober)][-1] == starts[prober].text
    assert money_records(data_dir, "subscriptions") == []
    codes = {row["code"] for row in money_records(data_dir, "promo_codes")}
    assert "HACK" not in codes and "SPRING" in codes


async def test_panel_user_grant_with_confirmation_stats_csv_and_promo_wizard(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    telegram.user_message(USER, "/start", username="anna_k")
    await telegram.wait_for_message(USER, "Привет")

    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель")
    telegram.press(ADMIN, panel, AdminMenu(section=Section.USERS))
    await telegram.wait_for_last(ADMIN, "ID пользователя")
    telegram.user_message(ADMIN, "@ANNA_K")
    card = await telegram.wait_for_message(ADMIN, "Пользователь")
    assert "4242" in card.text and "Активных" not in card.text
    telegram.press(ADMIN, card, AdminUser(action=UserAct.GRANT, user_id=USER))
    plans = await telegram.wait_for_last(ADMIN, "Выберите тариф")
    telegram.press(
        ADMIN, plans, AdminUser(action=UserAct.PLAN, user_id=USER, plan_id="power_group")
    )
    days = await telegram.wait_for_last(ADMIN, "Сколько дней")
    telegram.press(
        ADMIN,
        days,
        AdminUser(action=UserAct.DAYS, user_id=USER, plan_id="power_group", days=90),
    )
    confirm = await telegram.wait_for_last(ADMIN, "Выдать")
    assert money_records(data_dir, "subscriptions") == []  # nothing before the confirmation
    telegram.press(
        ADMIN,
        confirm,
        AdminUser(action=UserAct.GRANT_OK, user_id=USER, plan_id="power_group", days=90),
    )
    await telegram.wait_for_message(USER, "Вам открыт тариф")
    record = money_records(data_dir, "subscriptions")[0]
    assert record["plan_id"] == "power_group"
    period = record["periods"][0]
    assert round((period["end"] - period["start"]) / 86400) == 90

    # Statistics with a chart, payments with CSV export.
    telegram.user_message(ADMIN, "/stats")
    stats = await telegram.wait_for_message(ADMIN, "Статистика")
    assert "Power Group: 1" in stats.text
    photo = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(ADMIN) if m.kind == "photo"), None)
    )
    assert photo.document is not None and photo.document.startswith(b"\x89PNG")
    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель", after=photo.message_id)
    telegram.press(ADMIN, panel, AdminMenu(section=Section.PAYMENTS))
    section = await telegram.wait_for_last(ADMIN, "По способам")
    telegram.press(ADMIN, section, AdminMenu(section=Section.EXPORT))
    csv_file = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(ADMIN) if m.kind == "document"), None)
    )
    assert csv_file.filename is not None and csv_file.filename.endswith(".csv")
    assert csv_file.document is not None and csv_file.document.startswith(b"\xef\xbb\xbf")
    # A Russian Excel splits at ";": every row in columns, the header's names apart.
    rows = list(csv.reader(io.StringIO(csv_file.document.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["id", "user_id", "plan_id"]
    assert len(rows[0]) > 10 and all(len(row) == len(rows[0]) for row in rows)

    # A promo code step by step, then disabled from the list.
    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель", after=csv_file.message_id)
    telegram.press(ADMIN, panel, AdminMenu(section=Section.PROMO))
    section = await telegram.wait_for_last(ADMIN, "Промокоды")
    telegram.press(ADMIN, section, AdminPromo(action=PromoAct.NEW))
    await telegram.wait_for_message(ADMIN, "Шаг 1/5")
    telegram.user_message(ADMIN, "winter")
    step2 = await telegram.wait_for_message(ADMIN, "Шаг 2/5")
    telegram.press(ADMIN, step2, AdminPromo(action=PromoAct.PLAN, code="gpt_pro"))
    await telegram.wait_for_message(ADMIN, "Шаг 3/5")
    telegram.user_message(ADMIN, "abc")
    await telegram.wait_for_message(ADMIN, "целое число")
    telegram.user_message(ADMIN, "14")
    step4 = await telegram.wait_for_message(ADMIN, "Шаг 4/5")
    telegram.press(ADMIN, step4, AdminPromo(action=PromoAct.SKIP))
    step5 = await telegram.wait_for_message(ADMIN, "Шаг 5/5")
    telegram.user_message(ADMIN, "2031-12-31")
    created = await telegram.wait_for_message(ADMIN, "WINTER", after=step5.message_id)
    assert "14" in created.text and "2031-12-31" in created.text
    telegram.user_message(ADMIN, "/promo_list")
    await telegram.wait_for_message(ADMIN, "использован 0/∞")


async def test_broadcast_with_429_403_and_graceful_restart(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    users = range(10_000, 20_000)
    blocked = {u for u in users if u % 97 == 0}
    already_marked = {u for u in users if u % 101 == 0} - blocked
    write_users(data_dir, users, blocked=already_marked)
    telegram.blocked_users = blocked | already_marked
    telegram.rate_limit_per_second = 600  # 429 with retry_after above this rate
    env = {"BROADCAST_RATE": "3000", "LOG_LEVEL": "INFO"}
    bot = await start_bot(env)
    telegram.record_calls = False

    telegram.user_message(
        ADMIN,
        "/broadcast Новости недели",
        entities=[
            {"type": "bot_command", "offset": 0, "length": 10},
            {"type": "bold", "offset": 11, "length": 7},
        ],
    )
    preview = await telegram.wait_for_message(ADMIN, "Так увидят рассылку")
    # Everyone but the users already known to have blocked the bot, plus the admin.
    assert str(len(users) - len(already_marked) + 1) in preview.text
    telegram.press(
        ADMIN,
        preview,
        preview.data_starting(callback_prefix(AdminBroadcast, action=BroadcastAct.SEND)),
    )
    await telegram.wait_for(
        lambda: sum(telegram.delivered.get(u, 0) for u in users) > 3000, timeout=60
    )
    bot.terminate()  # a graceful restart in the middle
    assert await bot.wait(15) == 0
    middle = sum(telegram.delivered.get(u, 0) for u in users)
    assert middle < 9000

    await start_bot(env)
    await telegram.wait_for_message(ADMIN, "продолжена")
    done = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(ADMIN) if "завершена" in m.text), None),
        timeout=120,
    )
    delivered = Counter({u: telegram.delivered.get(u, 0) for u in users})
    reachable = [u for u in users if u not in blocked and u not in already_marked]
    assert telegram.rate_limited > 0  # the bot was pushed back with 429 and honoured it
    assert all(delivered[u] == 1 for u in reachable)  # exactly once, across the restart
    assert all(delivered[u] == 0 for u in blocked | already_marked)
    assert f"Доставлено: {len(reachable) + 1}" in done.text  # the admin gets it too
    assert f"заблокировали: {len(blocked - already_marked)}" in done.text
    assert any(m.html and "<b>Новости</b>" in m.html for m in telegram.messages(reachable[0]))
    # Blocked users are marked and skipped from then on.
    marked = json.loads((data_dir / "users" / f"{min(blocked)}.json").read_text())
    assert marked["blocked"] is True


async def test_broadcast_copy_kill_9_never_sends_twice(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    users = range(30_000, 33_000)
    write_users(data_dir, users)
    env = {"BROADCAST_RATE": "800"}
    bot = await start_bot(env)
    telegram.user_message(ADMIN, "/broadcast")
    await telegram.wait_for_message(ADMIN, "Пришлите сообщение для рассылки")
    telegram.user_photo(ADMIN, caption="Фото дня")
    preview = await telegram.wait_for_message(ADMIN, "Так увидят рассылку")
    telegram.press(
        ADMIN,
        preview,
        preview.data_starting(callback_prefix(AdminBroadcast, action=BroadcastAct.SEND)),
    )
    await telegram.wait_for(lambda: sum(telegram.delivered.get(u, 0) for u in users) > 800)
    bot.kill()
    await bot.wait()
    await start_bot(env)
    done = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(ADMIN) if "завершена" in m.text), None),
        timeout=60,
    )
    counts = [telegram.delivered.get(u, 0) for u in users]
    assert max(counts) == 1  # nobody twice
    assert counts.count(0) <= 4  # at most the sends in flight at the kill
    assert "пропущено" in done.text
    assert all(m.kind == "copy" for u in users[:5] for m in telegram.messages(u))
