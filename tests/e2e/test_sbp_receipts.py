"""SBP: only what the user marks as a receipt reaches the managers (issue 18).

A photo, file or text sent after an SBP invoice used to be taken as its receipt and
copied to the managers, and «Я оплатил» without a receipt said the receipt was passed
on. Driven through the real bot process and the Bot API emulator."""

from __future__ import annotations

from pathlib import Path

from edge.callbacks import PayMethod, PayWith, PlansMenu, SbpAct, SbpPaid, SbpStep
from tests.e2e.conftest import ADMIN, StartBot
from tests.e2e.test_payments import buy, payments_file
from tests.factories import callback_prefix
from tests.stubs.openai_server import FakeOpenAI, image_urls
from tests.stubs.telegram_server import FakeTelegram, SentMessage

USER = 910
SBP = {"SBP_DETAILS": "Т-Банк +7 900 000-00-00, Иван И."}


def to_managers(telegram: FakeTelegram) -> list[SentMessage]:
    """What reached the manager: copies of receipts and SBP requests."""
    return [m for m in telegram.messages(ADMIN) if m.kind == "copy" or "СБП: проверьте" in m.text]


def step(message: SentMessage, action: SbpAct, payment_id: str) -> str:
    """The yes/no button under a question about a held message (its key is unknown)."""
    return message.data_starting(callback_prefix(SbpStep, action=action, payment_id=payment_id))


def only_payment_id(data_dir: Path) -> str:
    (payment_id,) = payments_file(data_dir)
    return payment_id


async def test_a_photo_after_an_sbp_invoice_is_a_question_unless_marked_as_a_receipt(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot(SBP)
    invoice = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    payment_id = only_payment_id(data_dir)

    # A question in words after the invoice goes to the model as always.
    telegram.user_message(USER, "Сколько будет 2+2?")
    await telegram.wait_for_message(USER, "Echo: Сколько будет 2+2?")

    # A photo with a question: the bot asks before anything reaches the manager.
    telegram.user_photo(USER, caption="Что на этой картинке?", data=b"\xff\xd8\xff\xe0 a cat")
    question = await telegram.wait_for_message(USER, "Это чек об оплате", after=invoice.message_id)
    assert to_managers(telegram) == []
    telegram.press(USER, question, step(question, SbpAct.NO, payment_id))
    await telegram.wait_for_message(USER, "Echo: Что на этой картинке?")
    assert image_urls(llm.requests[-1]["messages"][-1]["content"])  # the picture went too
    await telegram.wait_idle(USER, quiet=0.3)
    assert to_managers(telegram) == []
    assert payments_file(data_dir)[payment_id]["receipts"] == 0

    # After «Нет» the next picture is not asked about: it is a question too.
    telegram.user_photo(USER, caption="А на этой?", data=b"\xff\xd8\xff\xe0 a dog")
    await telegram.wait_for_message(USER, "Echo: А на этой?")
    assert to_managers(telegram) == []

    # «Я оплатил(а)» without a receipt says so, and the manager is told there is none.
    telegram.press(USER, invoice, SbpPaid(payment_id=payment_id))
    told = await telegram.wait_for_message(USER, "без чека", after=invoice.message_id)
    assert "Чек передан" not in told.text
    request = await telegram.wait_for_message(ADMIN, "СБП: проверьте оплату")
    assert "без чека" in request.text
    assert not [m for m in telegram.messages(ADMIN) if m.kind == "copy"]


async def test_a_receipt_goes_to_the_manager_when_the_user_says_so(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot(SBP)
    invoice = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    payment_id = only_payment_id(data_dir)

    # «Отправить чек», then «Отмена»: the next file is asked about, not sent.
    telegram.press(USER, invoice, SbpStep(action=SbpAct.SEND_RECEIPT, payment_id=payment_id))
    prompt = await telegram.wait_for_message(USER, "Пришлите чек", after=invoice.message_id)
    telegram.press(USER, prompt, SbpStep(action=SbpAct.CANCEL, payment_id=payment_id))
    await telegram.wait_for(lambda: "Пришлите чек" not in prompt.text or None)
    telegram.user_document(USER, "receipt.pdf", caption=None)
    question = await telegram.wait_for_message(USER, "Это чек об оплате", after=prompt.message_id)
    assert to_managers(telegram) == []

    # «Да, это чек»: the file and the request reach the manager; nothing reaches the model.
    telegram.press(USER, question, step(question, SbpAct.YES, payment_id))
    await telegram.wait_for_message(ADMIN, "СБП: проверьте оплату")
    await telegram.wait_for(lambda: "передан менеджеру" in question.text or None)
    assert [m.kind for m in telegram.messages(ADMIN) if m.kind == "copy"] == ["copy"]
    assert llm.requests == []
    assert payments_file(data_dir)[payment_id]["receipts"] == 1

    # A second invoice: «Отправить чек» arms the step, and the photo is its receipt at once.
    second = await buy(telegram, USER, "ai_group", PayMethod.SBP)
    second_id = next(p for p in payments_file(data_dir) if p != payment_id)
    telegram.press(USER, second, SbpStep(action=SbpAct.SEND_RECEIPT, payment_id=second_id))
    await telegram.wait_for_message(USER, "Пришлите чек", after=second.message_id)
    telegram.user_photo(USER, caption="вот чек")
    await telegram.wait_for_message(USER, "передан менеджеру", after=second.message_id)
    assert len([m for m in telegram.messages(ADMIN) if m.kind == "copy"]) == 2
    assert payments_file(data_dir)[second_id]["receipts"] == 1
    assert llm.requests == []


async def test_the_invoice_says_how_long_the_check_takes(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot(SBP | {"SBP_CONFIRM_HOURS": "3"})
    invoice = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    number = str(payments_file(data_dir)[only_payment_id(data_dir)]["number"])
    assert "за 3 часа" in invoice.text and "1\u00a0199\u00a0₽" in invoice.text
    assert f"номер платежа: {number}" in invoice.text
    assert [b["text"] for b in invoice.buttons()][:3] == [
        "📎 Отправить чек",
        "✅ Оплата отправлена",
        "💬 Написать в поддержку",
    ]
    # Below them the other methods and Back, not SBP again.
    assert invoice.has_button_for(PayWith(plan_id="gpt_pro", method=PayMethod.STARS))
    assert not invoice.has_button_for(PayWith(plan_id="gpt_pro", method=PayMethod.SBP))
    assert invoice.has_button_for(PlansMenu())
    telegram.press(USER, invoice, SbpPaid(payment_id=only_payment_id(data_dir)))
    told = await telegram.wait_for_message(USER, "без чека", after=invoice.message_id)
    assert "за 3 часа" in told.text


async def test_an_album_after_the_invoice_is_one_question_and_one_model_request(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot(SBP)
    invoice = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    payment_id = only_payment_id(data_dir)
    photos = [b"\xff\xd8\xff\xe0 one", b"\xff\xd8\xff\xe0 two", b"\xff\xd8\xff\xe0 three"]
    telegram.user_photo(USER, caption="Сравни", data=photos[0], media_group_id="55")
    for photo in photos[1:]:
        telegram.user_photo(USER, data=photo, media_group_id="55")
    question = await telegram.wait_for_message(USER, "Это чек об оплате", after=invoice.message_id)
    await telegram.wait_idle(USER, quiet=0.5)
    asked = [m for m in telegram.messages(USER) if "Это чек об оплате" in m.text]
    assert asked == [question]
    telegram.press(USER, question, step(question, SbpAct.NO, payment_id))
    await telegram.wait_for_message(USER, "Echo: Сравни")
    await telegram.wait_idle(USER)
    [request] = llm.requests
    assert len(image_urls(request["messages"][-1]["content"])) == 3
    assert to_managers(telegram) == []
