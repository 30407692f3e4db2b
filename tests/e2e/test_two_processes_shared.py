"""Two real bot processes behind one webhook URL (tests/e2e/test_two_processes.py's
pair: one PostgreSQL database, one Redis, a round-robin proxy): a Stop or a Retry
handled by the process that is not writing the answer, a flood and a day's quota spread
over both, each limited as one process would limit it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from edge.callbacks import AnswerAct, AnswerControl
from tests.e2e import test_two_processes as pairs
from tests.e2e.test_fair_use import send_spread, small_quota_catalog
from tests.e2e.test_two_processes import Pair
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

# The pair's fixtures, used here by name.
database, redis_prefix, two_processes = pairs.database, pairs.redis_prefix, pairs.two_processes

USER = 720
STOP = AnswerControl(action=AnswerAct.STOP)
RETRY = AnswerControl(action=AnswerAct.RETRY)


def more_than(telegram: FakeTelegram, count: int) -> Callable[[], bool]:
    return lambda: len(telegram.messages(USER)) > count


def backend_of(pair: Pair, index: int) -> str:
    """The process the proxy gave the index-th update to."""
    return pair.proxy.sent[index][0]


async def test_a_stop_handled_by_the_other_process_stops_the_answer(
    telegram: FakeTelegram, llm: FakeOpenAI, two_processes: Callable[..., Awaitable[Pair]]
) -> None:
    telegram.drafts_supported = False  # edit streaming, with the Stop button
    pair = await two_processes()
    llm.delay_per_chunk = 0.05
    telegram.user_message(USER, "длинный ответ " * 60)  # several seconds of streaming
    streaming = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(USER) if m.has_button_for(STOP)), None),
        timeout=30,
    )
    telegram.press_button(USER, streaming.message_id, STOP.pack())
    stopped = await telegram.wait_for_message(USER, "⏹ Остановлено", timeout=5)
    assert stopped.message_id == streaming.message_id
    await telegram.wait_for(lambda: llm.closed_by_client == 1, timeout=5)
    assert backend_of(pair, -1) != backend_of(pair, -2)  # the press went to the other one


async def test_retry_pressed_on_the_other_process_asks_again(
    telegram: FakeTelegram, llm: FakeOpenAI, two_processes: Callable[..., Awaitable[Pair]]
) -> None:
    pair = await two_processes()
    answers = iter(["первый вариант", "второй вариант"])
    llm.reply = lambda body: next(answers)
    telegram.user_message(USER, "Расскажи анекдот")
    first = await telegram.wait_for_message(USER, "первый вариант", timeout=30)
    telegram.press(USER, first, RETRY)
    await telegram.wait_for_message(USER, "второй вариант", timeout=15)
    assert backend_of(pair, -1) != backend_of(pair, -2)
    assert llm.user_messages() == ["Расскажи анекдот"] * 2


async def test_a_flood_spread_over_both_processes_is_limited_as_one(
    telegram: FakeTelegram, llm: FakeOpenAI, two_processes: Callable[..., Awaitable[Pair]]
) -> None:
    await two_processes()
    await send_spread(telegram, USER, [f"скрипт {n}" for n in range(60)], 1.0)
    await telegram.wait_idle(USER, quiet=2.0, timeout=60)
    texts = [m.text for m in telegram.messages(USER)]
    assert sum("Слишком много" in text for text in texts) == 1  # one notice, not one each
    assert len(llm.requests) <= 20, f"{len(llm.requests)} model calls"


async def test_a_days_free_requests_spread_over_both_processes_pass_once(
    telegram: FakeTelegram,
    llm: FakeOpenAI,
    two_processes: Callable[..., Awaitable[Pair]],
    tmp_path: Path,
) -> None:
    await two_processes(CATALOG_PATH=str(small_quota_catalog(tmp_path)))  # 3 a day
    for number in range(6):
        before = len(telegram.messages(USER))
        telegram.user_message(USER, f"вопрос {number}")
        await telegram.wait_for(more_than(telegram, before), timeout=30)
        telegram.user_message(USER, "/new")  # short memory: only the requests count
        await asyncio.sleep(0.3)
    await telegram.wait_idle(USER, quiet=1.0, timeout=30)
    assert len(llm.requests) == 3
    assert sum("закончились" in m.text for m in telegram.messages(USER)) == 3
