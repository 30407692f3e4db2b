"""The chat inbox: nothing lost, order kept, pastes joined, the queue bounded."""

from __future__ import annotations

import asyncio
import time

from services.chat.inbox import Inbox, Offer, Photo, Request, join_messages


async def test_the_first_message_starts_a_worker_and_the_rest_wait_in_order() -> None:
    inbox = Inbox()
    assert inbox.offer(1, Request("a")) is Offer.START
    assert [inbox.offer(1, Request(text)) for text in ("b", "c")] == [Offer.QUEUED, Offer.QUEUED]
    assert inbox.offer(2, Request("x")) is Offer.START  # another user is independent
    assert await inbox.first_request(1, Request("a")) == Request("a")
    assert await inbox.next_request(1) == Request("b\n\nc")
    assert await inbox.next_request(1) is None  # done: released in the same step
    assert inbox.offer(1, Request("d")) is Offer.START


async def test_the_queue_is_bounded_and_drop_empties_it() -> None:
    inbox = Inbox(limit=3)
    inbox.offer(1, Request("first"))
    assert [inbox.offer(1, Request(str(n))) for n in range(5)] == [Offer.QUEUED] * 3 + [
        Offer.FULL,
        Offer.DROPPED,  # a long burst is refused once, not once per message
    ]
    assert inbox.drop(1) == 3
    assert await inbox.next_request(1) is None
    inbox.offer(1, Request("again"))  # a new worker
    assert [inbox.offer(1, Request(str(n))) for n in range(4)][-1] is Offer.FULL  # told again later


async def test_a_split_paste_is_joined_without_a_separator() -> None:
    inbox = Inbox(paste_part=10, paste_wait=0.5)
    first, rest = "x" * 10, "y" * 4
    assert inbox.offer(1, Request(first)) is Offer.START

    async def second_part() -> None:
        await asyncio.sleep(0.05)
        assert inbox.offer(1, Request(rest)) is Offer.QUEUED

    task = asyncio.create_task(second_part())
    assert await inbox.first_request(1, Request(first)) == Request(first + rest)
    await task
    assert await inbox.next_request(1) is None


async def test_an_ordinary_message_is_not_delayed_and_a_lone_long_one_waits_briefly() -> None:
    inbox = Inbox(paste_part=10, paste_wait=0.2)
    inbox.offer(1, Request("short"))
    started = time.monotonic()
    assert await inbox.first_request(1, Request("short")) == Request("short")
    assert time.monotonic() - started < 0.05
    inbox.release(1)
    inbox.offer(1, Request("z" * 10))
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


async def test_an_albums_photos_are_one_request_and_the_next_message_is_not() -> None:
    inbox = Inbox(paste_wait=0.5)
    cat, dog, fox = Photo(b"cat"), Photo(b"dog"), Photo(b"fox")
    first = Request("сравни", (cat,), album="a1")
    assert inbox.offer(1, first) is Offer.START

    async def the_rest() -> None:
        for photo in (dog, fox):
            await asyncio.sleep(0.05)  # each is downloaded before it is offered
            assert inbox.offer(1, Request("", (photo,), album="a1")) is Offer.QUEUED
        await asyncio.sleep(0.05)
        inbox.offer(1, Request("а это?", (Photo(b"owl"),), album="a2"))  # another album

    task = asyncio.create_task(the_rest())
    assert await inbox.first_request(1, first) == Request("сравни", (cat, dog, fox))
    await task
    assert await inbox.next_request(1) == Request("а это?", (Photo(b"owl"),))
