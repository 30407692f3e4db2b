"""What a plan earns and costs, seen by an operator through the real bot; a plan's
monthly token allowance running out."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from edge.callbacks import AdminMenu, PayMethod, Section
from tests.e2e.conftest import ADMIN, ROOT, StartBot, money_records
from tests.e2e.test_payments import buy
from tests.e2e.test_subscriptions import ask, choose_model
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

PAYER = 1201
SBP = {"SBP_DETAILS": "Т-Банк +7 900 000-00-00, Иван И."}


def priced_catalog(tmp_path: Path) -> Path:
    """GPT-4o Mini at 1000/2000 USD per 1M tokens (costs visible in kopecks) and
    Premium 1 with an allowance of 40 tokens a month."""
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    old = 'model_id = "gpt-4o-mini"\nprice_input = 0.15\nprice_output = 0.6\n'
    assert old in text
    text = text.replace(old, 'model_id = "gpt-4o-mini"\nprice_input = 1000\nprice_output = 2000\n')
    plan = 'models = ["gpt-4o-mini", "gemini-2.0"]\n'
    text = text.replace(plan, plan + "monthly_tokens = 40\n")
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def ru_number(text: str) -> float:
    return float(text.replace("\u00a0", "").replace(",", ".").replace("\u2212", "-"))


async def test_a_plans_revenue_cost_margin_and_monthly_allowance(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path, data_dir: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(priced_catalog(tmp_path)), **SBP})
    telegram.user_message(PAYER, "/start")
    await telegram.wait_for_message(PAYER, "Привет")
    await buy(telegram, PAYER, "premium1", PayMethod.SBP)
    [payment] = [p["id"] for p in money_records(data_dir, "payments")]
    telegram.user_message(ADMIN, f"/confirm {payment}")
    await telegram.wait_for_message(PAYER, "Оплата получена")
    await choose_model(telegram, PAYER, "GPT-4o Mini")

    answers = []
    for number in range(10):  # each exchange takes ~10-20 tokens of the 40
        answers.append(await ask(telegram, PAYER, f"вопрос {number}"))
        if "Месячный объём" in answers[-1]:
            break
    refusal = answers[-1]
    assert "Месячный объём тарифа для GPT-4o Mini израсходован" in refusal, answers
    assert "40 токенов в месяц" in refusal and "01." in refusal  # back on the 1st
    asked = len(llm.requests)
    assert "Месячный объём" in await ask(telegram, PAYER, "ещё")
    assert len(llm.requests) == asked  # refused without a model call
    telegram.user_message(PAYER, "/profile")
    profile = await telegram.wait_for_message(PAYER, "Профиль", after=telegram.last_id(PAYER))
    assert "Premium 1: 0 из 40 токенов" in profile.text

    # The operator: revenue, cost and margin of the plan (and the user's card).
    telegram.user_message(ADMIN, "/stats")
    stats = await telegram.wait_for_message(ADMIN, "Тарифы за 30 дней")
    # Russian numbers: a decimal comma, digit groups, a real minus.
    line = re.search(r"Premium 1: ([\d,]+) · ([\d,]+) · (−?[\d,]+)", stats.text)
    assert line is not None, stats.text
    revenue, cost, margin = (ru_number(value) for value in line.groups())
    assert revenue == 675.0 and cost > 0 and round(revenue - cost, 2) == margin
    total = re.search(r"30 дней: ([\d,]+) · маржа (−?[\d,]+)", stats.text)
    assert total is not None and ru_number(total.group(1)) == cost  # the only costly answers
    telegram.user_message(ADMIN, "/admin")
    panel = await telegram.wait_for_message(ADMIN, "Админ-панель", after=stats.message_id)
    telegram.press(ADMIN, panel, AdminMenu(section=Section.USERS))
    await telegram.wait_for_last(ADMIN, "ID пользователя")
    telegram.user_message(ADMIN, str(PAYER))  # (found by name too, or @username)
    card = await telegram.wait_for_message(ADMIN, "Пользователь", after=panel.message_id)
    shown_cost = f"{cost:.2f}".replace(".", ",")
    assert f"оплатил 675\u00a0₽, 0\u00a0⭐ · расход на провайдеров {shown_cost}\u00a0₽" in card.text


async def test_a_day_over_the_cost_limit_alerts_the_admins_once(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    free = 'model_id = "openai/gpt-4.1-nano"\nprice_input = 0.1\n'
    assert free in text  # the default model, made dear: one answer costs over 50 RUB
    path = tmp_path / "catalog.toml"
    path.write_text(text.replace(free, free.replace("0.1", "100000")), encoding="utf-8")
    env = {"CATALOG_PATH": str(path), "DAILY_COST_ALERT_RUB": "50", "MONEY_WATCH_INTERVAL": "0.3"}
    await start_bot(env)
    for number in range(2):
        telegram.user_message(PAYER, f"вопрос {number}")
        await telegram.wait_for_message(PAYER, f"Echo: вопрос {number}")
    alert = await telegram.wait_for_message(ADMIN, "over the limit of 50.00 RUB")
    assert "DAILY_COST_ALERT_RUB" in alert.text
    await asyncio.sleep(1.0)  # three more checks: still one alert today
    alerts = [m for m in telegram.messages(ADMIN) if "over the limit" in m.text]
    assert len(alerts) == 1
