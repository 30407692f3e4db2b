"""Messages a user sends while their answer is being written: kept in order, then joined.

People type in bursts, and Telegram splits a paste longer than 4096 characters into
several messages that arrive within milliseconds. The first message of an idle user
starts a worker (the caller of `offer` that got START); later ones wait here and
become one request after the current answer. A message near the split size, or a
photo of an album, waits briefly for the rest of its paste or album, so ordinary
messages are never delayed.

`RequestQueue` is the interface; `Inbox` keeps it in this process's memory (one
process), services.shared.inbox.RedisInbox in Redis (several processes: a message
handled by any of them joins the one queue of its user, answered by one worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

QUEUE_LIMIT = 20  # messages waiting behind a running answer, per user
PASTE_PART = 4000  # a message this long may be a part of a paste Telegram split...
PASTE_WAIT = 0.8  # ...so its next part is awaited this many seconds
JOINER = "\n\n"  # between separate messages; parts of one paste are joined as they are


@dataclass(slots=True, frozen=True)
class Photo:
    """A picture sent with a request, not kept yet."""

    data: bytes
    mime_type: str = "image/jpeg"


@dataclass(slots=True, frozen=True)
class Request:
    """What one answer is asked: text, pictures sent with it, and (on Retry) ids of
    pictures already kept in the conversation."""

    text: str
    photos: tuple[Photo, ...] = ()
    kept_images: tuple[str, ...] = ()
    album: str | None = None  # Telegram's media_group_id: an album's photos go together


class Offer(Enum):
    START = "start"  # nothing was running: the caller answers this and what queues up
    QUEUED = "queued"  # kept; answered right after the current answer
    FULL = "full"  # the queue is at QUEUE_LIMIT: refused (say so)
    DROPPED = "dropped"  # still full, and the user was already told: drop quietly


def join_messages(parts: list[Request], paste_part: int = PASTE_PART) -> Request:
    """One request from messages in order; a part after a paste-sized one continues it.
    Pictures come along in order; a picture without a caption adds no text."""
    joined = parts[0].text
    for previous, part in itertools.pairwise(parts):
        if not part.text:
            continue
        separator = "" if len(previous.text) >= paste_part or not joined else JOINER
        joined += separator + part.text
    photos = tuple(photo for part in parts for photo in part.photos)
    return Request(joined, photos)


def _same_album(part: Request, following: Request) -> bool:
    """Whether `following` continues `part` (any message continues a paste)."""
    return part.album is None or following.album == part.album


class RequestQueue(Protocol):
    """Per-user waiting messages; a user has a worker from START (or `claim`) until
    `next_request` finds nothing or `release`."""

    # Told the user's id each time what queued up becomes one more request (flood
    # control charges its model call).
    on_batch: Callable[[int], Awaitable[None]] | None

    @property
    def limit(self) -> int: ...

    async def offer(self, user_id: int, request: Request) -> Offer:
        """Decide who answers a new message: START (the caller is the worker), QUEUED,
        FULL (refused: say so) or DROPPED (still full, already said)."""
        ...

    async def claim(self, user_id: int) -> bool:
        """Become the user's worker without a new message (Retry); False if one runs."""
        ...

    async def first_request(self, user_id: int, request: Request) -> Request:
        """The worker's first request: `request`, plus the rest of its paste or album if
        it is part of one."""
        ...

    async def next_request(self, user_id: int) -> Request | None:
        """What queued up behind the answer, as one request; None when nothing did, and
        then the worker is released in the same step."""
        ...

    async def drop(self, user_id: int) -> int:
        """Forget the waiting messages (/cancel, Stop); returns how many there were."""
        ...

    async def release(self, user_id: int) -> None:
        """The worker is done (or gone): the next message starts a new one."""
        ...

    async def orphans(self) -> list[int]:
        """Users whose messages wait with no worker left (its process died or stopped):
        this caller is now their worker (it answers with `next_request`)."""
        ...


class Inbox:
    """RequestQueue in this process's memory."""

    def __init__(
        self,
        *,
        limit: int = QUEUE_LIMIT,
        paste_part: int = PASTE_PART,
        paste_wait: float = PASTE_WAIT,
    ) -> None:
        self._limit = limit
        self._paste_part = paste_part
        self._paste_wait = paste_wait
        self._waiting: dict[int, list[Request]] = {}  # present while the user has a worker
        # Told the user's id each time what queued up becomes one more request (flood
        # control charges its model call).
        self.on_batch: Callable[[int], Awaitable[None]] | None = None
        self._told_full: set[int] = set()  # refused once since the queue last drained
        self._arrived: dict[int, asyncio.Event] = {}

    @property
    def limit(self) -> int:
        return self._limit

    async def offer(self, user_id: int, request: Request) -> Offer:
        """Decided before any await."""
        waiting = self._waiting.get(user_id)
        if waiting is None:
            self._waiting[user_id] = []
            return Offer.START
        if len(waiting) >= self._limit:
            if user_id in self._told_full:
                return Offer.DROPPED  # a 100-message burst gets one refusal, not 80
            self._told_full.add(user_id)
            return Offer.FULL
        waiting.append(request)
        event = self._arrived.get(user_id)
        if event is not None:
            event.set()
        return Offer.QUEUED

    async def claim(self, user_id: int) -> bool:
        if user_id in self._waiting:
            return False
        self._waiting[user_id] = []
        return True

    async def first_request(self, user_id: int, request: Request) -> Request:
        parts = [request]
        while self._continued(parts[-1]):
            if not self._waiting.get(user_id) and not await self._next_part(user_id):
                break
            waiting = self._waiting.get(user_id)
            if not waiting or not _same_album(parts[-1], waiting[0]):
                break
            parts.append(waiting.pop(0))
        return join_messages(parts, self._paste_part)

    def _continued(self, part: Request) -> bool:
        """A part whose next part may follow: paste-sized text, or a photo of an album."""
        return len(part.text) >= self._paste_part or part.album is not None

    async def _next_part(self, user_id: int) -> bool:
        event = self._arrived.setdefault(user_id, asyncio.Event())
        event.clear()
        try:
            async with asyncio.timeout(self._paste_wait):
                await event.wait()
        except TimeoutError:
            return False
        finally:
            self._arrived.pop(user_id, None)
        return True

    async def next_request(self, user_id: int) -> Request | None:
        """Released in the same step as nothing is found (a message arriving right after
        starts a new worker, so none is stranded)."""
        waiting = self._waiting.get(user_id)
        if not waiting:
            self._release(user_id)
            return None
        self._waiting[user_id] = []
        self._told_full.discard(user_id)
        if self.on_batch is not None:
            await self.on_batch(user_id)
        return join_messages(waiting, self._paste_part)

    async def drop(self, user_id: int) -> int:
        waiting = self._waiting.get(user_id)
        if not waiting:
            return 0
        count = len(waiting)
        waiting.clear()
        self._told_full.discard(user_id)
        return count

    async def release(self, user_id: int) -> None:
        self._release(user_id)

    async def orphans(self) -> list[int]:
        return []  # a worker lives as long as this process

    def _release(self, user_id: int) -> None:
        self._waiting.pop(user_id, None)
        self._told_full.discard(user_id)
        event = self._arrived.pop(user_id, None)
        if event is not None:
            with contextlib.suppress(Exception):
                event.set()
