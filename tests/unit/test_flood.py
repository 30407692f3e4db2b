"""Flood control: a burst people make passes; a script gets one notice, then silence."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User

from edge.callbacks import AnswerAct, AnswerControl
from edge.middlewares import FloodMiddleware, _stops_work
from services.limits.flood import ANSWER_COST, BURST, FloodControl, Verdict


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


def test_messages_that_start_answers_cost_more_than_joins() -> None:
    """60 messages in a second, each starting a model call, pass at most (BURST + RATE) /
    ANSWER_COST times; 25 that join an answer being written pass whole."""
    flood = FloodControl()
    verdicts = [flood.check(3, now=100.0 + i / 60, cost=ANSWER_COST) for i in range(60)]
    assert verdicts.count(Verdict.PASS) <= (BURST + 3) / ANSWER_COST <= 20
    assert verdicts.count(Verdict.WARN) == 1
    assert flood.check(4, now=100.0, cost=ANSWER_COST) is Verdict.PASS
    joins = [flood.check(4, now=100.0 + i / 25) for i in range(25)]
    assert set(joins) == {Verdict.PASS}


def _message(text: str, user_id: int = 5, chat_type: str = "private") -> Update:
    chat = Chat(id=user_id, type=chat_type)
    sender = User(id=user_id, is_bot=False, first_name="U")
    message = Message(
        message_id=1, date=dt.datetime.now(dt.UTC), chat=chat, text=text, from_user=sender
    )
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


class Worker:
    """A handler that holds the first message (as an answer being written) until let go."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.done = asyncio.Event()

    async def __call__(self, event: TelegramObject, data: dict[str, Any]) -> None:
        assert isinstance(event, Update) and event.message is not None
        self.handled.append(event.message.text or "")
        if len(self.handled) == 1:
            await self.done.wait()


async def feed(middleware: FloodMiddleware, handler: Worker, update: Update) -> None:
    assert update.message is not None and update.message.from_user is not None
    await middleware(handler, update, {"event_from_user": update.message.from_user})


async def test_messages_sent_while_an_answer_is_written_cost_one() -> None:
    middleware, worker = FloodMiddleware(FloodControl()), Worker()
    first = asyncio.create_task(feed(middleware, worker, _message("долгий вопрос")))
    await asyncio.sleep(0)
    for number in range(27):  # they queue and join: one model call for them all
        await feed(middleware, worker, _message(f"ещё {number}"))
    assert len(worker.handled) == 28
    worker.done.set()
    await first


async def test_messages_that_each_start_an_answer_are_stopped_sooner() -> None:
    middleware, worker = FloodMiddleware(FloodControl()), Worker()
    worker.done.set()  # each answer ends at once: every message starts its own
    for number in range(60):
        await feed(middleware, worker, _message(f"скрипт {number}"))
    assert len(worker.handled) == BURST // ANSWER_COST
    for number in range(BURST):  # group messages rarely start a model call: one each
        await feed(middleware, worker, _message(f"в группе {number}", 6, "group"))
    assert len(worker.handled) == BURST // ANSWER_COST + BURST


def test_a_charge_for_work_that_passed_can_empty_the_bucket_for_the_next_update() -> None:
    flood = FloodControl(rate=3, burst=4, cooldown=30)
    assert flood.check(7, now=100.0, cost=2) is Verdict.PASS
    flood.charge(7, 5, now=100.0)  # more than is left: the bucket is empty, not negative
    assert flood.check(7, now=100.0) is Verdict.WARN
    assert flood.check(7, now=101.0) is Verdict.DROP  # then the cooldown
    other = FloodControl(rate=3, burst=4, exempt=frozenset({8}))
    other.charge(8, 100)  # admins are never charged
    assert other.check(8) is Verdict.PASS


def test_messages_count_at_their_date_so_a_backlog_is_no_flood() -> None:
    flood = FloodControl(rate=3, burst=4, cooldown=30)
    sent = [100.0 + 2 * n for n in range(10)]  # sent two seconds apart, delivered at once
    assert all(flood.check(9, now=at, cost=2) is Verdict.PASS for at in sent)
    late = FloodControl(rate=3, burst=4, cooldown=30)
    assert late.check(9, now=200.0, cost=2) is Verdict.PASS
    assert late.check(9, now=199.0, cost=2) is Verdict.PASS  # out of order: no refill
    assert late.check(9, now=199.0, cost=2) is Verdict.WARN
