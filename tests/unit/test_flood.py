"""Flood control: a burst people make passes; a script gets one notice, then silence.
Each test runs on both implementations: this process's memory and Redis (the same
numbers and verdicts); Redis's also across two "processes" (two clients, one Redis)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User

from edge.callbacks import AnswerAct, AnswerControl
from edge.middlewares import FloodMiddleware, _stops_work
from runtime.redis import client_for
from services.limits.flood import ANSWER_COST, BURST, Flood, FloodControl, Verdict
from services.shared.flood import RedisFlood
from services.shared.link import FAST_FAIL
from services.shared.state import SharedState
from tests.conftest import REDIS_PORT, SharedStates, delete_prefix, unique_prefix
from tests.stubs.tcp_proxy import TcpProxy


class Floods:
    """Makes flood controls of one kind; each `make` a fresh one (its own state), each
    `twin` another process's view of the same state."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._states = SharedStates()

    async def make(self, **options: Any) -> Flood:
        if self.kind == "memory":
            return FloodControl(**options)
        return RedisFlood(await self._states.view(), **options)

    async def twin(self, flood: Flood, **options: Any) -> Flood:
        assert isinstance(flood, RedisFlood)
        return RedisFlood(await self._states.view(flood._shared.prefix), **options)

    async def close(self) -> None:
        await self._states.close()


@pytest.fixture(params=["memory", "redis"])
async def floods(request: pytest.FixtureRequest) -> AsyncIterator[Floods]:
    made = Floods(request.param)
    yield made
    await made.close()


async def test_ten_fast_messages_pass_and_a_script_is_stopped_once(floods: Floods) -> None:
    flood = await floods.make()
    assert {await flood.check(1, now=100.0 + i * 0.01) for i in range(10)} == {Verdict.PASS}
    verdicts = [await flood.check(2, now=100.0) for _ in range(100)]
    assert verdicts[:BURST] == [Verdict.PASS] * BURST
    assert verdicts[BURST] is Verdict.WARN
    assert set(verdicts[BURST + 1 :]) == {Verdict.DROP}
    assert await flood.check(2, now=110.0) is Verdict.DROP  # still cooling down
    assert await flood.check(2, now=131.0) is Verdict.PASS  # back after the cooldown


async def test_admins_are_exempt_and_steady_use_never_trips(floods: Floods) -> None:
    flood = await floods.make(exempt=frozenset({7}))
    assert {await flood.check(7, now=0.0) for _ in range(500)} == {Verdict.PASS}
    steady = {await flood.check(8, now=i * 0.5) for i in range(1000)}  # 2 a second
    assert steady == {Verdict.PASS}


async def test_messages_that_start_answers_cost_more_than_joins(floods: Floods) -> None:
    """60 messages in a second, each starting a model call, pass at most (BURST + RATE) /
    ANSWER_COST times; 25 that join an answer being written pass whole."""
    flood = await floods.make()
    verdicts = [await flood.check(3, now=100.0 + i / 60, cost=ANSWER_COST) for i in range(60)]
    assert verdicts.count(Verdict.PASS) <= (BURST + 3) / ANSWER_COST <= 20
    assert verdicts.count(Verdict.WARN) == 1
    assert await flood.check(4, now=100.0, cost=ANSWER_COST) is Verdict.PASS
    joins = [await flood.check(4, now=100.0 + i / 25) for i in range(25)]
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


async def test_messages_sent_while_an_answer_is_written_cost_one(floods: Floods) -> None:
    middleware, worker = FloodMiddleware(await floods.make()), Worker()
    first = asyncio.create_task(feed(middleware, worker, _message("долгий вопрос")))
    await asyncio.sleep(0)
    for number in range(27):  # they queue and join: one model call for them all
        await feed(middleware, worker, _message(f"ещё {number}"))
    assert len(worker.handled) == 28
    worker.done.set()
    await first


async def test_messages_that_each_start_an_answer_are_stopped_sooner(floods: Floods) -> None:
    middleware, worker = FloodMiddleware(await floods.make()), Worker()
    worker.done.set()  # each answer ends at once: every message starts its own
    for number in range(60):
        await feed(middleware, worker, _message(f"скрипт {number}"))
    assert len(worker.handled) == BURST // ANSWER_COST
    for number in range(BURST):  # group messages rarely start a model call: one each
        await feed(middleware, worker, _message(f"в группе {number}", 6, "group"))
    assert len(worker.handled) == BURST // ANSWER_COST + BURST


async def test_a_charge_for_work_that_passed_can_empty_the_bucket_for_the_next_update(
    floods: Floods,
) -> None:
    flood = await floods.make(rate=3, burst=4, cooldown=30)
    assert await flood.check(7, now=100.0, cost=2) is Verdict.PASS
    await flood.charge(7, 5, now=100.0)  # more than is left: the bucket is empty, not negative
    assert await flood.check(7, now=100.0) is Verdict.WARN
    assert await flood.check(7, now=101.0) is Verdict.DROP  # then the cooldown
    other = await floods.make(rate=3, burst=4, exempt=frozenset({8}))
    await other.charge(8, 100)  # admins are never charged
    assert await other.check(8) is Verdict.PASS


async def test_messages_count_at_their_date_so_a_backlog_is_no_flood(floods: Floods) -> None:
    flood = await floods.make(rate=3, burst=4, cooldown=30)
    sent = [100.0 + 2 * n for n in range(10)]  # sent two seconds apart, delivered at once
    assert [await flood.check(9, now=at, cost=2) for at in sent] == [Verdict.PASS] * 10
    late = await floods.make(rate=3, burst=4, cooldown=30)
    assert await late.check(9, now=200.0, cost=2) is Verdict.PASS
    assert await late.check(9, now=199.0, cost=2) is Verdict.PASS  # out of order: no refill
    assert await late.check(9, now=199.0, cost=2) is Verdict.WARN


async def test_a_flood_split_across_two_processes_is_limited_as_one() -> None:
    """60 model-starting messages in a second, each handled by one of two processes in
    turn, racing: together they pass as one process would let them (16 at most)."""
    floods = Floods("redis")
    try:
        one = await floods.make()
        two = await floods.twin(one)
        verdicts = await asyncio.gather(
            *(
                (one if i % 2 else two).check(3, now=100.0 + i / 60, cost=ANSWER_COST)
                for i in range(60)
            )
        )
        assert verdicts.count(Verdict.PASS) <= (BURST + 3) // ANSWER_COST
        assert verdicts.count(Verdict.PASS) >= BURST // ANSWER_COST
        assert verdicts.count(Verdict.WARN) == 1  # one notice, whichever process gave it
        # One process handling a message makes the other's next message a join (cost 1).
        assert await one.check(5, now=100.0, cost=ANSWER_COST, joining=1) is Verdict.PASS
        for _ in range(BURST - ANSWER_COST):
            assert await two.check(5, now=100.0, cost=ANSWER_COST, joining=1) is Verdict.PASS
        await one.handled(5)
        for _ in range(BURST - ANSWER_COST):
            await two.handled(5)
        assert await two.check(5, now=100.0, cost=ANSWER_COST, joining=1) is Verdict.WARN
    finally:
        await floods.close()


async def test_an_unreachable_redis_lets_updates_through_and_says_so_once() -> None:
    proxy = TcpProxy("127.0.0.1", REDIS_PORT)
    await proxy.start()
    shared = SharedState(client_for(f"redis://127.0.0.1:{proxy.port}/0"), unique_prefix())
    flood = RedisFlood(shared, burst=1)
    try:
        assert await flood.check(1, now=100.0) is Verdict.PASS
        assert await flood.check(1, now=100.0) is Verdict.WARN
        proxy.cut()  # what it would ask for (a model call, a quota) is refused downstream
        assert [await flood.check(1, now=100.0) for _ in range(3)] == [Verdict.PASS] * 3
        assert shared.link.problem is not None
        proxy.restore()
        await asyncio.sleep(FAST_FAIL)  # calls right after a failure fail at once
        assert await flood.check(1, now=101.0) is Verdict.DROP  # the cooldown was kept
        assert shared.link.problem is None
    finally:
        assert shared.redis is not None
        await delete_prefix(shared.redis, shared.prefix)
        await shared.redis.aclose()
        await proxy.stop()
