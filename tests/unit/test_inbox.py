"""The chat inbox: nothing lost, order kept, pastes joined, the queue bounded. The tests
taking `queues` run on both implementations (this process's memory, Redis); the rest
run two "processes" (two clients, one Redis) sharing a user's queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.chat.inbox import Inbox, Offer, Photo, Request, RequestQueue, join_messages
from services.shared.inbox import RedisInbox
from tests.conftest import SharedStates


class Queues:
    """Makes queues of one kind: `make` a fresh one, `twin` another process's view of
    the same queues (Redis only)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._states = SharedStates()

    async def make(self, **options: Any) -> RequestQueue:
        if self.kind == "memory":
            return Inbox(**options)
        return RedisInbox(await self._states.view(), **options)

    async def redis(self, **options: Any) -> RedisInbox:
        queue = await self.make(**options)
        assert isinstance(queue, RedisInbox)
        return queue

    async def twin(self, queue: RequestQueue, **options: Any) -> RedisInbox:
        assert isinstance(queue, RedisInbox)
        return RedisInbox(await self._states.view(queue._shared.prefix), **options)

    async def close(self) -> None:
        await self._states.close()


@pytest.fixture(params=["memory", "redis"])
async def queues(request: pytest.FixtureRequest) -> AsyncIterator[Queues]:
    made = Queues(request.param)
    yield made
    await made.close()


@pytest.fixture
async def redis_queues() -> AsyncIterator[Queues]:
    made = Queues("redis")
    yield made
    await made.close()


async def test_the_first_message_starts_a_worker_and_the_rest_wait_in_order(
    queues: Queues,
) -> None:
    inbox = await queues.make()
    assert await inbox.offer(1, Request("a")) is Offer.START
    assert [await inbox.offer(1, Request(text)) for text in ("b", "c")] == [Offer.QUEUED] * 2
    assert await inbox.offer(2, Request("x")) is Offer.START  # another user is independent
    assert await inbox.first_request(1, Request("a")) == Request("a")
    assert await inbox.next_request(1) == Request("b\n\nc")
    assert await inbox.next_request(1) is None  # done: released in the same step
    assert await inbox.offer(1, Request("d")) is Offer.START


async def test_the_queue_is_bounded_and_drop_empties_it(queues: Queues) -> None:
    inbox = await queues.make(limit=3)
    await inbox.offer(1, Request("first"))
    assert [await inbox.offer(1, Request(str(n))) for n in range(5)] == [Offer.QUEUED] * 3 + [
        Offer.FULL,
        Offer.DROPPED,  # a long burst is refused once, not once per message
    ]
    assert await inbox.drop(1) == 3
    assert await inbox.next_request(1) is None
    await inbox.offer(1, Request("again"))  # a new worker
    offers = [await inbox.offer(1, Request(str(n))) for n in range(4)]
    assert offers[-1] is Offer.FULL  # told again later


async def test_a_split_paste_is_joined_without_a_separator(queues: Queues) -> None:
    inbox = await queues.make(paste_part=10, paste_wait=0.5)
    first, rest = "x" * 10, "y" * 4
    assert await inbox.offer(1, Request(first)) is Offer.START

    async def second_part() -> None:
        await asyncio.sleep(0.05)
        assert await inbox.offer(1, Request(rest)) is Offer.QUEUED

    task = asyncio.create_task(second_part())
    assert await inbox.first_request(1, Request(first)) == Request(first + rest)
    await task
    assert await inbox.next_request(1) is None


async def test_an_ordinary_message_is_not_delayed_and_a_lone_long_one_waits_briefly(
    queues: Queues,
) -> None:
    inbox = await queues.make(paste_part=10, paste_wait=0.2)
    await inbox.offer(1, Request("short"))
    started = time.monotonic()
    assert await inbox.first_request(1, Request("short")) == Request("short")
    assert time.monotonic() - started < 0.05
    await inbox.release(1)
    await inbox.offer(1, Request("z" * 10))
    started = time.monotonic()
    assert await inbox.first_request(1, Request("z" * 10)) == Request("z" * 10)
    assert 0.15 < time.monotonic() - started < 1


def test_joining_keeps_paste_parts_together_and_separates_messages() -> None:
    parts = [Request("a" * 5), Request("b"), Request("c")]
    assert join_messages(parts, paste_part=5) == Request("a" * 5 + "b\n\nc")
    assert join_messages([Request("one")], paste_part=5) == Request("one")


def test_pictures_queued_behind_an_answer_come_along_in_order() -> None:
    cat, dog = Photo(b"cat"), Photo(b"dog", "image/png")
    parts = [Request("", (cat,)), Request("what is this?"), Request("", (dog,)), Request("and?")]
    assert join_messages(parts) == Request("what is this?\n\nand?", (cat, dog))


async def test_an_albums_photos_are_one_request_and_the_next_message_is_not(
    queues: Queues,
) -> None:
    inbox = await queues.make(paste_wait=0.5)
    cat, dog, fox = Photo(b"cat"), Photo(b"dog"), Photo(b"\x00\xfffox", "image/png")
    first = Request("сравни", (cat,), album="a1")
    assert await inbox.offer(1, first) is Offer.START

    async def the_rest() -> None:
        for photo in (dog, fox):
            await asyncio.sleep(0.05)  # each is downloaded before it is offered
            assert await inbox.offer(1, Request("", (photo,), album="a1")) is Offer.QUEUED
        await asyncio.sleep(0.05)
        await inbox.offer(1, Request("а это?", (Photo(b"owl"),), album="a2"))  # another album

    task = asyncio.create_task(the_rest())
    assert await inbox.first_request(1, first) == Request("сравни", (cat, dog, fox))
    await task
    assert await inbox.next_request(1) == Request("а это?", (Photo(b"owl"),))


async def test_retry_claims_the_worker_only_when_none_runs(queues: Queues) -> None:
    inbox = await queues.make()
    assert await inbox.claim(1)
    assert not await inbox.claim(1)
    assert await inbox.offer(1, Request("meanwhile")) is Offer.QUEUED
    assert await inbox.next_request(1) == Request("meanwhile")
    assert await inbox.next_request(1) is None
    assert await inbox.claim(1)
    await inbox.release(1)
    assert await inbox.offer(1, Request("next")) is Offer.START


async def test_a_burst_split_across_two_processes_joins_one_queue_in_order(
    redis_queues: Queues,
) -> None:
    """Twelve messages of one user, handled in turn by two processes: one worker for
    them all (on the process that got the first), the rest queued in arrival order and
    answered once, together, behind the first answer."""
    one = await redis_queues.redis()
    two = await redis_queues.twin(one)
    offers = [await (one, two)[n % 2].offer(7, Request(f"m{n}")) for n in range(12)]
    assert offers == [Offer.START] + [Offer.QUEUED] * 11
    assert not await two.claim(7)  # the other process cannot become a second worker
    assert await two.next_request(7) is None  # nor take the queue from under the worker
    assert await one.first_request(7, Request("m0")) == Request("m0")
    assert await one.next_request(7) == Request("\n\n".join(f"m{n}" for n in range(1, 12)))
    assert await one.next_request(7) is None
    assert await two.offer(7, Request("later")) is Offer.START  # released: anyone may start


async def test_a_dead_workers_queue_is_taken_over_by_another_process(
    redis_queues: Queues,
) -> None:
    one = await redis_queues.redis(worker_ttl=0.3)
    two = await redis_queues.twin(one, worker_ttl=0.3)
    assert await one.offer(7, Request("first")) is Offer.START
    assert await two.offer(7, Request("second")) is Offer.QUEUED
    assert await two.offer(7, Request("third")) is Offer.QUEUED
    one._forget(7)  # the process dies: its keeper stops, nothing is released
    assert await two.orphans() == []  # not yet: the claim has not expired
    await asyncio.sleep(0.4)
    assert await two.orphans() == []  # the queue is too fresh to call abandoned
    await asyncio.sleep(2.0)
    assert await two.orphans() == [7]
    assert await one.orphans() == []  # taken: once
    assert await two.next_request(7) == Request("second\n\nthird")
    assert await two.next_request(7) is None


async def test_a_new_message_after_a_dead_worker_answers_what_waited_first(
    redis_queues: Queues,
) -> None:
    one = await redis_queues.redis(worker_ttl=0.3)
    two = await redis_queues.twin(one, worker_ttl=0.3)
    await one.offer(7, Request("first"))
    await one.offer(7, Request("stranded"))
    one._forget(7)
    await asyncio.sleep(0.4)
    assert await two.offer(7, Request("new")) is Offer.START
    assert await two.first_request(7, Request("new")) == Request("stranded\n\nnew")
    assert await two.next_request(7) is None


async def test_a_worker_whose_claim_was_taken_over_stops(redis_queues: Queues) -> None:
    one = await redis_queues.redis(worker_ttl=0.3)
    two = await redis_queues.twin(one, worker_ttl=0.3)
    await one.offer(7, Request("first"))
    keeper = one._keepers[7]
    keeper.cancel()  # the process stalls past its claim
    await asyncio.sleep(0.4)
    assert await two.offer(7, Request("second")) is Offer.START
    await one.offer(7, Request("third"))  # queued behind the new worker
    assert await one.next_request(7) is None  # the stalled one answers nothing more
    assert await two.next_request(7) == Request("third")


async def test_the_claim_is_kept_while_an_answer_is_long(redis_queues: Queues) -> None:
    one = await redis_queues.redis(worker_ttl=0.3)
    two = await redis_queues.twin(one, worker_ttl=0.3)
    await one.offer(7, Request("long answer"))
    await asyncio.sleep(1.0)  # longer than the claim: its keeper extends it
    assert await two.offer(7, Request("meanwhile")) is Offer.QUEUED
    await asyncio.sleep(2.5)
    assert await two.orphans() == []
    assert await one.next_request(7) == Request("meanwhile")
