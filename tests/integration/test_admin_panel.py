"""Every admin handler through the production Dispatcher: press, then check what was sent."""

from __future__ import annotations

import asyncio

from aiogram.methods import EditMessageText, SendDocument, SendMessage, SendPhoto
from aiogram.types import InlineKeyboardMarkup

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
from edge.states import AdminFind
from services.chat.formatting import utf16_length
from services.limits.quota import VOICE_KEY
from services.models import UnmatchedMoney
from tests.integration.conftest import Harness
from tests.stubs.telegram_text import parse_html

ADMIN = 1
USER = 7


def last_to_admin(harness: Harness) -> SendMessage | EditMessageText:
    for call in reversed(harness.session.calls):
        if isinstance(call, SendMessage | EditMessageText) and call.chat_id == ADMIN:
            return call
    raise AssertionError("nothing was sent to the admin")


def last_text(harness: Harness) -> str:
    return last_to_admin(harness).text or ""


def buttons(harness: Harness) -> list[str]:
    """The callback data of the last keyboard sent to the admin."""
    markup = last_to_admin(harness).reply_markup
    assert isinstance(markup, InlineKeyboardMarkup), "no keyboard"
    return [b.callback_data or "" for row in markup.inline_keyboard for b in row]


async def test_panel_menu_and_back(harness: Harness) -> None:
    await harness.message(ADMIN, "/admin")
    assert "Админ-панель" in last_text(harness)
    sections = [AdminMenu.unpack(data).section for data in buttons(harness)]
    assert sections == [
        Section.USERS,
        Section.PAYMENTS,
        Section.STATS,
        Section.PROMO,
        Section.BROADCAST,
    ]
    state = harness.dispatcher.fsm.get_context(harness.bot, chat_id=ADMIN, user_id=ADMIN)
    await harness.press(ADMIN, AdminMenu(section=Section.USERS).pack())
    assert await state.get_state() == AdminFind.query.state
    await harness.press(ADMIN, AdminMenu(section=Section.MAIN).pack())
    assert "Админ-панель" in last_text(harness)
    assert await state.get_state() is None  # the search step was left


async def test_find_a_user_and_grant_then_revoke_by_buttons(harness: Harness) -> None:
    await harness.message(USER, "/start")
    await harness.press(ADMIN, AdminMenu(section=Section.USERS).pack())
    assert "ID" in last_text(harness)
    await harness.message(ADMIN, "@nobody_here")
    assert "не найден" in last_text(harness).lower()
    await harness.message(ADMIN, str(USER))
    assert str(USER) in last_text(harness)
    actions = [AdminUser.unpack(data).action for data in buttons(harness)[:2]]
    assert actions == [UserAct.GRANT, UserAct.REVOKE]

    await harness.press(ADMIN, AdminUser(action=UserAct.GRANT, user_id=USER).pack())
    plans = [AdminUser.unpack(d).plan_id for d in buttons(harness) if d.startswith("adu")]
    assert plans == [plan.id for plan in harness.services.catalog.on_sale]
    await harness.press(
        ADMIN, AdminUser(action=UserAct.PLAN, user_id=USER, plan_id="gpt_pro").pack()
    )
    days = [AdminUser.unpack(d).days for d in buttons(harness) if d.startswith("adu")]
    assert days == [7, 30, 90, 365]
    await harness.press(
        ADMIN, AdminUser(action=UserAct.DAYS, user_id=USER, plan_id="gpt_pro", days=7).pack()
    )
    (yes,) = [AdminUser.unpack(d) for d in buttons(harness) if d.startswith("adu")]
    assert yes.action == UserAct.GRANT_OK and (yes.plan_id, yes.days) == ("gpt_pro", 7)
    await harness.press(ADMIN, yes.pack())
    assert "выдан" in last_text(harness)
    assert [a.plan.id for a in harness.services.subscriptions.active_plans(USER)] == ["gpt_pro"]

    await harness.press(ADMIN, AdminUser(action=UserAct.REVOKE, user_id=USER).pack())
    choices = [AdminUser.unpack(d) for d in buttons(harness) if d.startswith("adu")]
    assert [(c.action, c.plan_id) for c in choices] == [
        (UserAct.REVOKE_ASK, "gpt_pro"),
        (UserAct.REVOKE_ASK, ""),
    ]
    await harness.press(ADMIN, choices[0].pack())
    (sure,) = [AdminUser.unpack(d) for d in buttons(harness) if d.startswith("adu")]
    assert sure.action == UserAct.REVOKE_OK
    await harness.press(ADMIN, sure.pack())
    assert "отключ" in last_text(harness)
    assert harness.services.subscriptions.active_plans(USER) == []
    await harness.press(ADMIN, sure.pack())  # again: nothing left to revoke
    assert "нечего" in last_text(harness).lower() or "нет" in last_text(harness).lower()


async def test_grant_and_revoke_commands_check_their_input(harness: Harness) -> None:
    for command in ("/grant", "/grant 7 premium1", "/grant x premium1 30", "/grant 7 premium1 0"):
        await harness.message(ADMIN, command)
        assert "/grant" in last_text(harness), command
    await harness.message(ADMIN, "/revoke")
    assert "/revoke" in last_text(harness)
    await harness.message(ADMIN, "/revoke 7 gold")
    assert "gold" in last_text(harness)
    await harness.message(ADMIN, "/revoke 7")
    assert str(USER) in last_text(harness)
    assert harness.services.subscriptions.active_plans(USER) == []


async def test_promo_section_toggle_delete_and_commands(harness: Harness) -> None:
    await harness.message(ADMIN, "/promo_list")
    assert "нет" in last_text(harness).lower()
    await harness.message(ADMIN, "/promo_new BAD")
    assert "/promo_new" in last_text(harness)
    await harness.message(ADMIN, "/promo_new SUMMER gold 7")
    assert "gold" in last_text(harness)
    await harness.message(ADMIN, "/promo_new SUMMER premium1 7 5 2030-06-01")
    assert "SUMMER" in last_text(harness)
    await harness.message(ADMIN, "/promo_new SUMMER premium1 7")
    assert "SUMMER" in last_text(harness)  # exists already
    assert len(harness.services.promo.codes()) == 1

    await harness.press(ADMIN, AdminMenu(section=Section.PROMO).pack())
    assert "SUMMER" in last_text(harness)
    toggle = AdminPromo.unpack(buttons(harness)[0])
    assert (toggle.action, toggle.code) == (PromoAct.DISABLE, "SUMMER")
    await harness.press(ADMIN, toggle.pack())
    assert harness.services.promo.get("SUMMER").disabled  # type: ignore[union-attr]
    assert AdminPromo.unpack(buttons(harness)[0]).action == PromoAct.ENABLE
    await harness.press(ADMIN, AdminPromo(action=PromoAct.ENABLE, code="SUMMER").pack())
    assert not harness.services.promo.get("SUMMER").disabled  # type: ignore[union-attr]
    await harness.press(ADMIN, AdminPromo(action=PromoAct.DELETE, code="SUMMER").pack())
    assert harness.services.promo.codes() == []
    await harness.message(ADMIN, "/promo_del SUMMER")
    assert "SUMMER" in last_text(harness)
    await harness.message(ADMIN, "/promo_del")
    assert "/promo_del" in last_text(harness)


async def test_promo_wizard_every_step(harness: Harness) -> None:
    await harness.press(ADMIN, AdminPromo(action=PromoAct.NEW).pack())
    await harness.message(ADMIN, "autumn")
    plans = [AdminPromo.unpack(d) for d in buttons(harness)]
    assert {p.action for p in plans} == {PromoAct.PLAN}
    await harness.press(ADMIN, AdminPromo(action=PromoAct.PLAN, code="ai_group").pack())
    await harness.message(ADMIN, "zero")
    assert "число" in last_text(harness).lower()
    await harness.message(ADMIN, "14")
    assert AdminPromo.unpack(buttons(harness)[0]).action == PromoAct.SKIP
    await harness.message(ADMIN, "3")  # uses
    await harness.message(ADMIN, "not a date")
    assert "дат" in last_text(harness).lower()
    await harness.message(ADMIN, "2031-01-31")
    created = harness.services.promo.get("AUTUMN")
    assert created is not None
    assert (created.plan_id, created.days, created.max_uses, created.valid_until) == (
        "ai_group",
        14,
        3,
        "2031-01-31",
    )
    # Skipping both optional steps.
    await harness.press(ADMIN, AdminPromo(action=PromoAct.NEW).pack())
    await harness.message(ADMIN, "winter")
    await harness.press(ADMIN, AdminPromo(action=PromoAct.PLAN, code="premium1").pack())
    await harness.message(ADMIN, "30")
    await harness.press(ADMIN, AdminPromo(action=PromoAct.SKIP).pack())
    await harness.press(ADMIN, AdminPromo(action=PromoAct.SKIP).pack())
    winter = harness.services.promo.get("WINTER")
    assert winter is not None and (winter.max_uses, winter.valid_until) == (None, None)
    # A skip outside the wizard does nothing.
    await harness.press(ADMIN, AdminPromo(action=PromoAct.SKIP).pack())
    assert len(harness.services.promo.codes()) == 2


async def test_reject_with_a_reason_or_the_default_and_by_command(harness: Harness) -> None:
    payments = harness.services.payments
    first = await payments.open_invoice(USER, "premium1", "sbp")
    await harness.press(ADMIN, AdminPayment(action=PaymentAct.REJECT, payment_id=first.id).pack())
    assert first.id in last_text(harness)
    default = AdminPayment.unpack(buttons(harness)[0])
    assert default.action == PaymentAct.DEFAULT
    await harness.message(ADMIN, "не пришли деньги")
    assert payments.get(first.id).status == "rejected"  # type: ignore[union-attr]
    assert "не пришли деньги" in harness.session.texts_to(USER)[-1]

    second = await payments.open_invoice(USER, "ai_group", "sbp")
    await harness.press(ADMIN, AdminPayment(action=PaymentAct.REJECT, payment_id=second.id).pack())
    await harness.press(ADMIN, AdminPayment(action=PaymentAct.DEFAULT, payment_id=second.id).pack())
    assert payments.get(second.id).status == "rejected"  # type: ignore[union-attr]

    third = await payments.open_invoice(USER, "gpt_pro", "sbp")
    await harness.message(ADMIN, "/reject")
    assert "/reject" in last_text(harness)
    await harness.message(ADMIN, f"/reject {third.id} дубль")
    assert payments.get(third.id).status == "rejected"  # type: ignore[union-attr]
    await harness.message(ADMIN, f"/reject {third.id}")
    assert "отклонён" in last_text(harness)  # the status in the admin's language
    await harness.message(ADMIN, "/reject nosuchid")
    await harness.message(ADMIN, "/confirm nosuchid")
    await harness.message(ADMIN, "/confirm")
    assert "/confirm" in last_text(harness)


async def test_payments_list_export_refund_usage_and_settle(harness: Harness) -> None:
    payments = harness.services.payments
    paid = await payments.open_invoice(USER, "premium1", "sbp")
    await payments.credit(paid.id, decided_by=ADMIN)
    await harness.message(ADMIN, "/payments")
    assert f"№{paid.number}" in last_text(harness) and "675" in last_text(harness)
    assert "Premium 1" in last_text(harness) and "оплачен" in last_text(harness)  # not ids
    await harness.press(ADMIN, AdminMenu(section=Section.EXPORT).pack())
    (document,) = [c for c in harness.session.calls if isinstance(c, SendDocument)]
    assert document.chat_id == ADMIN
    await harness.message(ADMIN, "/refund")
    assert "/refund" in last_text(harness)
    await harness.message(ADMIN, f"/refund {paid.id}")
    assert "Stars" in last_text(harness)  # only Stars are refunded by command
    await harness.message(ADMIN, "/settle")
    assert "/settle" in last_text(harness)
    await harness.message(ADMIN, "/settle yoomoney:nothing")
    assert "yoomoney:nothing" in last_text(harness)


async def test_stats_by_command_and_button(harness: Harness) -> None:
    await harness.message(USER, "/start")
    await harness.message(ADMIN, "/stats")
    await harness.press(ADMIN, AdminMenu(section=Section.STATS).pack())
    texts = [c.text for c in harness.session.calls if isinstance(c, SendMessage)]
    photos = [c for c in harness.session.calls if isinstance(c, SendPhoto)]
    assert sum("Пользователей" in (t or "") for t in texts) == 2 and len(photos) == 2
    report = next(
        c for c in harness.session.calls if isinstance(c, SendMessage) and "Пользователей" in c.text
    )
    assert isinstance(report.reply_markup, InlineKeyboardMarkup)
    under = [b.callback_data or "" for row in report.reply_markup.inline_keyboard for b in row]
    assert [AdminMenu.unpack(data).section for data in under] == [
        Section.TOP_SPENDERS,
        Section.TOP_INVITERS,
        Section.MAIN,
    ]


async def test_top_spenders_and_inviters_are_one_press_away(harness: Harness) -> None:
    await harness.press(ADMIN, AdminMenu(section=Section.TOP_SPENDERS).pack())
    assert last_text(harness) == "В этом месяце расходов на провайдеров пока нет."
    await harness.press(ADMIN, AdminMenu(section=Section.TOP_INVITERS).pack())
    assert last_text(harness) == "Приглашённых пользователей пока нет."

    await harness.message(USER, "/start")
    stats = harness.services.stats
    stats.spend(USER, "gpt-5-nano", 1.25)
    stats.spend(USER, "gpt-5-nano", 2.5)
    stats.spend(ADMIN, "gpt-5-nano", 7.0)
    await harness.press(ADMIN, AdminMenu(section=Section.TOP_SPENDERS).pack())
    lines = last_text(harness).splitlines()
    assert lines[0] == "<b>Самые затратные пользователи месяца</b>"
    assert lines[1].startswith(f"<code>{ADMIN}</code>") and lines[1].endswith("— 7,00\u00a0₽")
    assert lines[2].startswith(f"<code>{USER}</code>") and lines[2].endswith("— 3,75\u00a0₽")

    referrals = harness.services.referrals
    code = await referrals.code_for(USER)
    assert await referrals.arrive(8, f"ref_{code}", first_visit=True)
    await harness.press(ADMIN, AdminMenu(section=Section.TOP_INVITERS).pack())
    assert f"(<code>{USER}</code>): 1 · 0" in last_text(harness)


async def test_broadcast_from_the_panel_and_stop(harness: Harness) -> None:
    harness.dispatcher["broadcast_runner"].attach(harness.bot)
    await harness.message(USER, "/start")
    await harness.press(ADMIN, AdminMenu(section=Section.BROADCAST).pack())
    await harness.message(ADMIN, "Новости")
    send = AdminBroadcast.unpack(buttons(harness)[0])
    assert send.action == BroadcastAct.SEND
    await harness.press(
        ADMIN, AdminBroadcast(action=BroadcastAct.STOP, broadcast_id=send.broadcast_id).pack()
    )
    await harness.press(
        ADMIN, AdminBroadcast(action=BroadcastAct.DROP, broadcast_id=send.broadcast_id).pack()
    )
    assert "Отмен" in last_text(harness)
    draft = await harness.services.broadcasts.get(send.broadcast_id)
    assert draft is not None and draft.status == "cancelled"
    await asyncio.sleep(0)


async def test_voice_transcription_cost_has_its_line_in_stats(harness: Harness) -> None:
    await harness.message(ADMIN, "/stats")
    assert "Распознавание голоса" not in last_text(harness)  # none yet: no line
    harness.services.stats.spend(USER, VOICE_KEY, 1.5)
    await harness.message(ADMIN, "/stats")
    report = next(
        c.text
        for c in reversed(harness.session.calls)
        if isinstance(c, SendMessage) and "Пользователей" in c.text
    )
    assert "🎤 Распознавание голоса: 1,50\u00a0₽" in report
    assert "30 дней: 1,50 · маржа \u22121,50" in report  # a decimal comma, a real minus


# Long lists and out-of-range input ------------------------------------------------------------
def sent_to_admin(harness: Harness) -> list[str]:
    """Every text sent to the admin, each checked as Telegram would (length, HTML)."""
    texts = harness.session.texts_to(ADMIN)
    for text in texts:
        shown, _ = parse_html(text, strict=True)
        assert utf16_length(text) <= 4096, shown[:80]
    return texts


async def test_forged_grant_days_are_refused_and_change_nothing(harness: Harness) -> None:
    forged = AdminUser(action=UserAct.GRANT_OK, user_id=USER, plan_id="premium1", days=999999999)
    await harness.press(ADMIN, forged.pack())
    assert last_text(harness) == "Срок — от 1 до 3660 дней. Ничего не изменено."
    assert harness.services.subscriptions.active_plans(USER) == []
    assert harness.session.texts_to(USER) == []  # the user is told nothing


async def test_promo_wizard_refuses_out_of_range_numbers_at_their_step(harness: Harness) -> None:
    await harness.press(ADMIN, AdminPromo(action=PromoAct.NEW).pack())
    await harness.message(ADMIN, "x" * 4000)  # no code can be that long
    assert last_text(harness) == "Код должен быть 3–32 символа: латиница, цифры, _ и -."
    await harness.message(ADMIN, "decade")
    await harness.press(ADMIN, AdminPromo(action=PromoAct.PLAN, code="premium1").pack())
    for days in ("999999999", "3661", "²", "0"):
        await harness.message(ADMIN, days)
        assert last_text(harness) == "Нужно целое число от 1 до 3660.", days
    await harness.message(ADMIN, "3660")
    await harness.message(ADMIN, "10000001")
    assert last_text(harness) == "Нужно целое число от 1 до 1\u00a0000\u00a0000."
    await harness.message(ADMIN, "1000000")
    await harness.press(ADMIN, AdminPromo(action=PromoAct.SKIP).pack())
    created = harness.services.promo.get("DECADE")
    assert created is not None and (created.days, created.max_uses) == (3660, 1_000_000)


async def test_a_plan_saved_with_absurd_days_does_not_break_any_screen(harness: Harness) -> None:
    """Data the old /grant wrote (999,999,999 days) still renders, as the last date there is."""
    await harness.message(USER, "/start")
    await harness.services.subscriptions.grant(USER, "premium1", 999_999_999, "admin:old")
    await harness.message(USER, "/plans")
    assert "30.12.9999" in harness.session.texts_to(USER)[-1]
    await harness.message(USER, "/profile")
    assert "30.12.9999" in harness.session.texts_to(USER)[-1]
    await harness.press(ADMIN, AdminMenu(section=Section.USERS).pack())
    await harness.message(ADMIN, str(USER))
    assert "30.12.9999" in last_text(harness)


async def test_a_user_search_for_no_possible_id_finds_nobody(harness: Harness) -> None:
    await harness.press(ADMIN, AdminMenu(section=Section.USERS).pack())
    for query in ("²", "9" * 30, "@" + "a" * 4000):
        await harness.message(ADMIN, query)
        assert "не найден" in last_text(harness), query
    sent_to_admin(harness)


async def test_long_payments_and_promo_lists_arrive_whole_with_their_totals(
    harness: Harness,
) -> None:
    payments, promo = harness.services.payments, harness.services.promo
    for n in range(60):
        await payments.record_unmatched(
            UnmatchedMoney(
                id=f"yoomoney:{n:03}-" + "7" * 60,
                method="yoomoney",
                amount=100.0,
                currency="RUB",
                reference=f"label-{n}",
                payment_id=None,
                user_id=None,
                reason="unknown",
                at=1_800_000_000.0 + n,
            )
        )
    for n in range(80):
        await promo.create(f"SPRING_{n:02}_" + "Q" * 20, "premium1", 30, created_by=ADMIN)

    await harness.message(ADMIN, "/payments")
    text = "\n".join(sent_to_admin(harness))
    assert "Не зачислено</b> (деньги пришли, но не к открытому счёту): 60" in text
    assert "…более ранние не показаны: 10" in text
    assert all(f"yoomoney:{n:03}-" in text for n in range(10, 60))
    assert text.endswith("Итого оплачено: 0\u00a0₽ и 0\u00a0⭐ (0 платежей)")

    before = len(harness.session.texts_to(ADMIN))
    await harness.message(ADMIN, "/promo_list")
    parts = sent_to_admin(harness)[before:]
    assert len(parts) >= 2
    assert all(f"SPRING_{n:02}_" in "\n".join(parts) for n in range(80))
    assert parts[-1].endswith("Всего: 80 кодов, активаций: 0")

    await harness.press(ADMIN, AdminMenu(section=Section.PROMO).pack())
    section = last_text(harness)
    assert "…более ранние не показаны: 65, весь список — /promo_list" in section
    assert section.endswith("Всего: 80 кодов, активаций: 0")
    await harness.press(ADMIN, AdminMenu(section=Section.PAYMENTS).pack())
    assert last_text(harness).endswith("Итого оплачено: 0\u00a0₽ и 0\u00a0⭐ (0 платежей)")
    assert Section.EXPORT in [AdminMenu.unpack(d).section for d in buttons(harness)]
    sent_to_admin(harness)


async def test_long_admin_alerts_are_split_not_cut(harness: Harness) -> None:
    lines = [f"<b>Сбой</b> <code>op-{n:04}</code> &amp; детали" for n in range(300)]
    await harness.dispatcher["notifier"].send_long(harness.bot, ADMIN, "\n".join(lines))
    text = "\n".join(sent_to_admin(harness))
    assert all(f"op-{n:04}" in text for n in range(300))


async def test_pending_payments_split_what_needs_a_manager_and_buttons_name_them(
    harness: Harness,
) -> None:
    payments = harness.services.payments
    told = await payments.open_invoice(USER, "premium1", "sbp")
    await payments.take_receipt(told.id, attached=False)  # "Оплата отправлена"
    silent = await payments.open_invoice(USER + 1, "gpt_pro", "sbp")
    await payments.open_invoice(USER + 2, "power_group", "stars")
    assert told.number and silent.number
    await harness.message(ADMIN, "/payments")
    text = last_text(harness)
    manager, waiting = text.split("Ждут пользователя")
    assert "Ждут менеджера" in manager and f"№{told.number}" in manager
    assert f"№{silent.number}" not in manager and f"№{silent.number}" in waiting
    assert "Premium 1" in manager and "premium1" not in text and "pending" not in text
    assert "ожидает" in manager

    await harness.press(ADMIN, AdminMenu(section=Section.PAYMENTS).pack())
    screen = last_to_admin(harness)
    shown, waits = (screen.text or "").split("Ждут пользователя")
    assert f"№{told.number}" in shown and f"№{silent.number}" not in shown
    assert ": 2" in waits.splitlines()[0]  # the silent SBP invoice and the Stars one
    assert isinstance(screen.reply_markup, InlineKeyboardMarkup)
    labels = [b.text for row in screen.reply_markup.inline_keyboard for b in row]
    assert labels[0] == f"✅ №{told.number} · Premium 1 · 675\u00a0₽"  # the one told first
    assert f"❌ Отклонить №{silent.number}" in labels
    assert not any(told.id in label or silent.id in label for label in labels)  # no hex ids
