"""Handlers through the production Dispatcher (no network)."""

from __future__ import annotations

from aiogram.methods import SendMessage
from aiogram.types import Sticker

from edge.callbacks import AdminMenu, BuyPlan, ModelChoice, PayMethod, PayWith, Section
from tests import factories
from tests.integration.conftest import Harness


async def test_start_registers_and_greets_in_the_users_language(harness: Harness) -> None:
    await harness.message(7, "/start")
    await harness.message(8, "/start", language="en")
    ru, en = harness.session.texts_to(7)[-1], harness.session.texts_to(8)[-1]
    assert "Привет" in ru and "GPT-5 Nano" in ru  # the first free model with a key
    assert "Hi" in en
    assert await harness.services.users.get(7) is not None


async def test_admin_commands_are_unknown_for_others(harness: Harness) -> None:
    for command in (
        "/grant 7 premium1 30",
        "/admin",
        "/stats",
        "/promo_list",
        "/payments",
        "/broadcast hi",
        "/confirm abc",
        "/refund abc",
    ):
        await harness.message(7, command)
        assert "Не знаю такой команды" in harness.session.texts_to(7)[-1], command
    assert harness.services.subscriptions.active_plans(7) == []


async def test_admin_grant_and_panel(harness: Harness) -> None:
    await harness.message(1, "/grant 7 premium1 30")
    assert "выдан" in harness.session.texts_to(1)[-1]
    assert [a.plan.id for a in harness.services.subscriptions.active_plans(7)] == ["premium1"]
    await harness.message(1, "/grant 7 gold 30")
    assert "premium1, ai_group" in harness.session.texts_to(1)[-1]
    await harness.message(1, "/admin")
    assert "Админ-панель" in harness.session.texts_to(1)[-1]
    for section in (Section.USERS, Section.PAYMENTS, Section.STATS, Section.PROMO):
        await harness.press(1, AdminMenu(section=section).pack())
    await harness.press(1, AdminMenu(section=Section.BROADCAST).pack())
    await harness.message(1, "/promo_new SPRING ai_group 7 10 2030-01-01")
    assert "SPRING" in harness.session.texts_to(1)[-1]
    await harness.message(1, "/promo_list")
    await harness.message(7, "/promo spring")
    assert "активирован" in harness.session.texts_to(7)[-1]
    await harness.message(7, "/profile")
    assert "AI Group" in harness.session.texts_to(7)[-1]
    sent = [c for c in harness.session.calls if isinstance(c, SendMessage)]
    assert sent


async def test_plans_and_payment_methods(harness: Harness) -> None:
    await harness.message(7, "/plans")
    assert "675" in harness.session.texts_to(7)[-1]
    await harness.press(7, BuyPlan(plan_id="premium1").pack())
    await harness.press(7, PayWith(plan_id="premium1", method=PayMethod.STARS).pack())
    await harness.message(7, "/model")
    await harness.press(7, ModelChoice(key="gpt-4o-mini").pack())
    assert "Premium 1" in harness.session.texts_to(7)[-1]


async def test_a_sticker_gets_the_only_text_answer(harness: Harness) -> None:
    sticker = factories.message(
        7,
        message_id=900,
        sticker=Sticker(
            file_id="s",
            file_unique_id="s",
            type="regular",
            width=1,
            height=1,
            is_animated=False,
            is_video=False,
        ),
    )
    await harness.feed(factories.update(900, message=sticker))
    assert "текст" in harness.session.texts_to(7)[-1]
