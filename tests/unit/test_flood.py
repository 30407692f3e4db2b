"""Flood control: a burst people make passes; a script gets one notice, then silence."""

from __future__ import annotations

import datetime as dt

from aiogram.types import CallbackQuery, Chat, Message, Update, User

from handlers.callbacks import AnswerAct, AnswerControl
from handlers.middlewares import _stops_work
from services.flood import BURST, FloodControl, Verdict


def test_ten_fast_messages_pass_and_a_script_is_stopped_once() -> None:
    flood = FloodControl()
    assert {flood.check(1, now=100.0 + i * 0.01) for i in range(10)} == {Verdict.PASS}
    verdicts = [flood.check(2, now=100.0) for _ in range(100)]
    assert verdicts[:BURST] == [Verdict.PASS] * BURST
    assert verdicts[BURST] is Verdict.WARN
    assert set(verdicts[BURST + 1 :]) == {Verdict.DROP}
    assert flood.check(2, now=110.0) is Verdict.DROP  # still cooling down
    assert flood.check(2, now=131.0) is Verdict.PASS  # back after the cooldown


def test_admins_are_exempt_and_steady_use_never_trips() -> None:
    flood = FloodControl(exempt=frozenset({7}))
    assert {flood.check(7, now=0.0) for _ in range(500)} == {Verdict.PASS}
    assert {flood.check(8, now=i * 0.5) for i in range(1000)} == {Verdict.PASS}  # 2 a second


def _message(text: str) -> Update:
    chat = Chat(id=5, type="private")
    message = Message(message_id=1, date=dt.datetime.now(dt.UTC), chat=chat, text=text)
    return Update(update_id=1, message=message)


def _press(data: str) -> Update:
    user = User(id=5, is_bot=False, first_name="U")
    query = CallbackQuery(id="q", from_user=user, chat_instance="c", data=data)
    return Update(update_id=1, callback_query=query)


def test_what_stops_work_passes_flood_control() -> None:
    assert _stops_work(_message("/cancel")) and _stops_work(_message("/cancel@ai_bot"))
    assert _stops_work(_press(AnswerControl(action=AnswerAct.STOP).pack()))
    assert not _stops_work(_press(AnswerControl(action=AnswerAct.RETRY).pack()))
    assert not _stops_work(_message("/cancelled")) and not _stops_work(_message("cancel"))
