"""Expected refusals (UserFacingError raised by a service) rendered by the one error
handler: the refusal's own text in the user's language, as a message or under the
pressed button; never the "something went wrong" notice, never an admin alert."""

from __future__ import annotations

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage

from edge.callbacks import CheckPayment
from services.models import Payment
from services.money.yoomoney import CheckTooSoonError, YooMoneyError
from tests.integration.conftest import Harness
from texts import get_texts

ADMIN = 1  # the harness's ADMIN_IDS
USER = 7


def answers(harness: Harness) -> list[AnswerCallbackQuery]:
    return [c for c in harness.session.calls if isinstance(c, AnswerCallbackQuery)]


async def test_an_unknown_promo_code_is_answered_with_its_text(harness: Harness) -> None:
    await harness.message(USER, "/promo NO_SUCH_CODE", language="en")
    assert harness.session.texts_to(USER)[-1] == get_texts("en")("promo_unknown")
    assert harness.session.texts_to(ADMIN) == []  # a refusal is no error


@pytest.mark.parametrize(
    ("refusal", "expected"),
    [
        (CheckTooSoonError(9.4), get_texts("ru")("pay_check_too_soon", seconds="9")),
        (YooMoneyError("network", "ClientError"), get_texts("ru")("pay_check_failed")),
    ],
)
async def test_a_refused_payment_check_is_an_alert_under_the_button(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    refusal: Exception,
    expected: str,
) -> None:
    await harness.message(USER, "/start")
    payment = await harness.services.payments.open_invoice(USER, "premium1", "yoomoney")

    async def check_one(payment: Payment, user_id: int) -> None:
        raise refusal

    monkeypatch.setattr(harness.services.yoomoney, "check_one", check_one)
    await harness.press(USER, CheckPayment(payment_id=payment.id).pack())
    [answer] = answers(harness)
    assert answer.text == expected and answer.show_alert
    sent = [c for c in harness.session.calls if isinstance(c, SendMessage)]
    assert all(c.chat_id == USER for c in sent)  # no admin alert
