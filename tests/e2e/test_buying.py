"""Buying in three taps, in one message (issue 18), through the real bot and the Bot API
emulator: the models say what they are good for, what they cost and what really answers;
a locked model offers the plans that open it; an active plan says until when and what
paying extends it to; every screen is edited in place and has Back; a mistyped promo code
keeps the step, and the prompts do not swallow the next question."""

from __future__ import annotations

import datetime as dt
import re

from edge.callbacks import (
    BuyPlan,
    CancelPromo,
    ChatsAct,
    ChatsMenu,
    OpenScreen,
    PayMethod,
    PayWith,
    PlansMenu,
    Screen,
    ShowModels,
)
from tests.e2e.conftest import ADMIN, StartBot, model_choice
from tests.e2e.test_payments import yoomoney_env
from tests.factories import callback_prefix
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram, SentMessage
from tests.stubs.yoomoney_server import FakeYooMoney

USER = 1300


async def edited(telegram: FakeTelegram, message: SentMessage, edits: int) -> SentMessage:
    """The message once it has been edited `edits` times in all."""
    return await telegram.wait_for(
        lambda: next(
            (
                m
                for m in telegram.messages(message.chat_id)
                if m.message_id == message.message_id and m.edits >= edits
            ),
            None,
        )
    )


async def test_from_start_to_an_invoice_for_a_locked_model_in_three_taps_adding_one_message(
    telegram: FakeTelegram, yoomoney: FakeYooMoney, start_bot: StartBot
) -> None:
    await start_bot(yoomoney_env(yoomoney))
    telegram.user_message(USER, "/start")
    screen = await telegram.wait_for_message(USER)
    await telegram.wait_idle(USER, quiet=0.3)
    added = len(telegram.messages(USER))  # what /start itself answers

    start = screen
    telegram.press(USER, start, OpenScreen(screen=Screen.MODELS))  # tap 1: the menu
    screen = await telegram.wait_for_message(USER, "Выберите модель", after=start.message_id)
    assert "Grok 3" in screen.text and "от 870\u00a0₽ (Power Group)" in screen.text
    telegram.press(USER, screen, model_choice("Grok 3"))  # tap 2
    screen = await edited(telegram, screen, 1)
    assert "доступна по подписке: Power Group" in screen.text
    assert "Power Group — 870\u00a0₽" in screen.button_for(BuyPlan(plan_id="power_group"))["text"]
    assert screen.has_button_for(ShowModels())  # Back
    telegram.press(USER, screen, BuyPlan(plan_id="power_group"))  # tap 3
    screen = await edited(telegram, screen, 2)

    pay = next(b["url"] for b in screen.buttons() if "url" in b)
    assert pay.startswith("https://yoomoney.ru/quickpay/confirm") and "sum=870.00" in pay
    assert "Power Group" in screen.text and "870" in screen.text
    # The invoice screen offers the other methods and Back.
    assert screen.has_button_for(PayWith(plan_id="power_group", method=PayMethod.STARS))
    assert screen.has_button_for(PlansMenu())
    await telegram.wait_idle(USER, quiet=0.3)
    assert len(telegram.messages(USER)) == added + 1  # the menu, then all in it

    telegram.press(USER, screen, PayWith(plan_id="power_group", method=PayMethod.STARS))
    invoice = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(USER) if m.kind == "invoice"), None)
    )
    assert invoice.extra["payload"]
    assert len(telegram.messages(USER)) == added + 2  # and the Stars invoice


async def test_the_model_menu_says_what_each_is_for_its_price_and_what_really_answers(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot()
    for language, free, price, answers in (
        ("ru", "бесплатно", "от 870\u00a0₽ (Power Group)", "отвечает Grok 4.3"),
        ("en", "free", "from 870 RUB (Power Group)", "answered by Grok 4.3"),
    ):
        user = USER + (1 if language == "en" else 0)
        telegram.user_message(user, "/model", language_code=language)
        menu = await telegram.wait_for_message(user, "Grok 3")
        line = next(line for line in menu.text.splitlines() if "Grok 3" in line)
        assert price in line and answers in line, line
        nano = next(line for line in menu.text.splitlines() if line.startswith("• GPT-4.1 Nano"))
        assert free in nano
        assert "Gemini 3 Flash" in menu.text  # both Gemini names are sent as one model

        telegram.press(user, menu, model_choice("Grok 3"), language_code=language)
        locked = await edited(telegram, menu, 1)
        assert "Grok 4.3" in locked.text
        telegram.press(user, locked, ShowModels(), language_code=language)  # Back
        back = await edited(telegram, menu, 2)
        assert "Выберите модель" in back.text or "Choose a model" in back.text
        assert len(telegram.messages(user)) == 1


def _moment(text: str) -> dt.datetime:
    day, clock = re.search(r"(\d\d\.\d\d\.\d{4}) (\d\d:\d\d)", text).groups()  # type: ignore[union-attr]
    return dt.datetime.strptime(f"{day} {clock}", "%d.%m.%Y %H:%M")


async def test_an_active_plan_says_until_when_and_paying_says_the_new_end_first(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(ADMIN, f"/grant {USER} power_group 10")
    await telegram.wait_for_message(ADMIN, "выдан")
    await telegram.wait_for_message(USER, "Вам открыт тариф")
    telegram.user_message(USER, "/plans")
    plans = await telegram.wait_for_message(USER, "Тарифы")
    lines = plans.text.splitlines()
    head = next(line for line in lines if line.startswith("Power Group"))
    assert "активен до" in head  # on the plan's own line, not its models line
    assert not any("✅" in line for line in lines if line.startswith("Модели"))
    extend = plans.button_for(BuyPlan(plan_id="power_group"))
    assert extend["text"].startswith("Продлить")
    assert plans.button_for(BuyPlan(plan_id="ai_group"))["text"].startswith("Купить")

    telegram.press(USER, plans, BuyPlan(plan_id="power_group"))
    screen = await edited(telegram, plans, 1)
    assert "продлит его до" in screen.text
    said = screen.text.split("продлит его до")[1]
    assert _moment(said) - _moment(head) == dt.timedelta(days=30)
    telegram.press(USER, screen, PlansMenu())  # Back: the plans again, in place
    await telegram.wait_for(lambda: "Тарифы" in plans.text and plans.edits >= 2)
    assert telegram.last_message(USER) is plans  # nothing added on the way


async def test_a_mistyped_promo_code_keeps_the_step_and_a_question_goes_to_the_model(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(ADMIN, "/promo_new SPRING ai_group 7")
    await telegram.wait_for_message(ADMIN, "SPRING")

    telegram.user_message(USER, "/promo")
    prompt = await telegram.wait_for_message(USER, "Отправьте промокод")
    assert prompt.has_button_for(CancelPromo())
    telegram.user_message(USER, "SPRNG")
    wrong = await telegram.wait_for_message(USER, "Такого промокода нет", after=prompt.message_id)
    assert "ещё раз" in wrong.text and wrong.has_button_for(CancelPromo())
    telegram.user_message(USER, "SPRING")  # the step is still on: the code is taken
    await telegram.wait_for_message(USER, "Промокод активирован", after=wrong.message_id)
    assert llm.requests == []

    telegram.user_message(USER, "/promo")
    await telegram.wait_for_last(USER, "Отправьте промокод")
    telegram.user_message(USER, "А что умеет DeepSeek?")  # clearly no code: the model's
    await telegram.wait_for_message(USER, "Echo: А что умеет DeepSeek?")

    telegram.user_message(USER, "/promo")
    prompt = await telegram.wait_for_last(USER, "Отправьте промокод")
    telegram.press(USER, prompt, CancelPromo())
    await telegram.wait_for(lambda: "не вводим" in prompt.text)
    telegram.user_message(USER, "ABCDEF")  # no step any more: a question
    await telegram.wait_for_message(USER, "Echo: ABCDEF")


async def test_the_rename_prompt_has_cancel_and_then_the_text_is_a_question(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(USER, "первый вопрос")
    await telegram.wait_for_message(USER, "Echo: первый вопрос")
    telegram.user_message(USER, "/chats")
    chats = await telegram.wait_for_message(USER, "Диалоги")
    rename = chats.data_starting(callback_prefix(ChatsMenu, action=ChatsAct.RENAME))
    telegram.press_button(USER, chats.message_id, rename)
    prompt = await telegram.wait_for_message(USER, "Как назвать", after=chats.message_id)
    telegram.press(USER, prompt, ChatsMenu(action=ChatsAct.RENAME_CANCEL))
    await telegram.wait_for(lambda: "название прежнее" in prompt.text)
    telegram.user_message(USER, "Рабочие заметки")
    await telegram.wait_for_message(USER, "Echo: Рабочие заметки")
