"""Trust near payment (issue 18): the offer and the privacy policy on the payment method
screen, and /support with SUPPORT_CONTACT or, without it, a question the admins get and
answer. Through the real bot process and the Bot API emulator."""

from __future__ import annotations

from edge.callbacks import BuyPlan, Support, SupportAct, SupportReply
from tests.e2e.conftest import ADMIN, StartBot
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram, SentMessage

USER = 920
OFFER = "https://example.com/offer?v=2&lang=ru"
PRIVACY = "https://example.com/privacy"


async def methods_screen(telegram: FakeTelegram, user: int, language: str = "ru") -> SentMessage:
    telegram.user_message(user, "/plans", language_code=language)
    plans = await telegram.wait_for_message(user, None, after=telegram.last_id(user))
    telegram.press(user, plans, BuyPlan(plan_id="gpt_pro"), language_code=language)
    await telegram.wait_for(lambda: plans.edits >= 1)  # in place of the plans
    return plans


def links(message: SentMessage) -> list[str]:
    return [str(e.get("url")) for e in message.entities if e.get("type") == "text_link"]


async def test_the_payment_screen_links_the_offer_and_the_privacy_policy(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot({"OFFER_URL": OFFER, "PRIVACY_URL": PRIVACY})
    screen = await methods_screen(telegram, USER)
    assert "Оплачивая, вы принимаете условия оферты и политику конфиденциальности." in screen.text
    assert links(screen) == [OFFER, PRIVACY]
    assert screen.has_button_for(Support())
    english = await methods_screen(telegram, USER + 1, "en")
    assert "By paying, you accept the terms of the offer and the privacy policy." in english.text
    assert links(english) == [OFFER, PRIVACY]


async def test_without_the_pages_the_payment_screen_says_nothing_of_them(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot({"PRIVACY_URL": PRIVACY})  # only one: only its half of the sentence
    screen = await methods_screen(telegram, USER)
    assert "Оплачивая, вы принимаете политику конфиденциальности." in screen.text
    assert "оферт" not in screen.text and links(screen) == [PRIVACY]


async def test_support_names_the_contact_and_is_in_help_the_menu_and_the_profile(
    telegram: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot({"SUPPORT_CONTACT": "@help_desk_bot"})
    for language in ("", "en"):  # Russian is the default menu
        names = [c["command"] for c in telegram.commands_for(language_code=language)]
        assert "support" in names
    telegram.user_message(USER, "/help")
    helped = await telegram.wait_for_message(USER, "/support")
    telegram.user_message(USER, "/support")
    support = await telegram.wait_for_message(USER, "@help_desk_bot", after=helped.message_id)
    assert [b.get("url") for b in support.buttons()] == ["https://t.me/help_desk_bot"]
    telegram.user_message(USER, "/paysupport")  # the command Telegram asks Stars sellers for
    await telegram.wait_for_message(USER, "@help_desk_bot", after=support.message_id)
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Профиль", after=support.message_id)
    telegram.press(USER, profile, Support())
    await telegram.wait_for_message(USER, "@help_desk_bot", after=profile.message_id)


async def test_without_a_contact_the_question_reaches_the_admins_and_their_answer_the_user(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_message(USER, "/support", username="anna")
    prompt = await telegram.wait_for_message(USER, "Напишите вопрос")
    telegram.user_message(USER, "Оплатил, а доступа нет", username="anna")
    await telegram.wait_for_message(USER, "Вопрос передан", after=prompt.message_id)
    copy = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(ADMIN) if m.kind == "copy"), None)
    )
    assert copy.text == "Оплатил, а доступа нет"
    card = await telegram.wait_for_message(ADMIN, "Вопрос в поддержку")
    assert "@anna" in card.text and str(USER) in card.text
    telegram.press(ADMIN, card, SupportReply(user_id=USER))
    await telegram.wait_for_message(ADMIN, "Напишите ответ")
    telegram.user_message(ADMIN, "Уже включили, проверьте /profile")
    answer = await telegram.wait_for_message(USER, "Ответ поддержки")
    assert "Уже включили, проверьте /profile" in answer.text
    assert answer.has_button_for(Support())
    await telegram.wait_for_message(ADMIN, "Ответ отправлен")
    assert llm.requests == []  # neither the question nor the answer went to a model

    # Cancel leaves the step: the next text is a question for the model again.
    telegram.user_message(USER, "/support")
    again = await telegram.wait_for_message(USER, "Напишите вопрос", after=answer.message_id)
    telegram.press(USER, again, Support(action=SupportAct.CANCEL))
    await telegram.wait_for(lambda: "ничего не отправляем" in again.text or None)
    telegram.user_message(USER, "Привет")
    await telegram.wait_for_message(USER, "Echo: Привет")
