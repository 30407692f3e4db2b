"""Answers being written and what Retry needs, behind small interfaces: in this process's
memory (one process) or in Redis (services.shared.answers, services.shared.retry), so a
Stop or a Retry pressed on any process reaches the answer wherever it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cachetools import LRUCache

from services.models import ChatTurn

TRACKED_USERS = 100_000  # per-user Retry state kept in memory, at most


class RunningAnswers(Protocol):
    """Where answers run, so a Stop handled elsewhere reaches them."""

    async def begin(self, owner: int, stop: Callable[[], object]) -> str:
        """The owner's answer starts here; `stop` ends it if a Stop for it comes from
        another process. Returns the answer's token for `end`."""
        ...

    async def end(self, owner: int, token: str) -> None: ...

    async def stop(self, owner: int) -> bool:
        """Stop the owner's answer running on another process; False: none runs."""
        ...


class LocalAnswers:
    """One process: every answer is in ChatService's own table; nothing to tell."""

    async def begin(self, owner: int, stop: Callable[[], object]) -> str:
        return ""

    async def end(self, owner: int, token: str) -> None:
        return None

    async def stop(self, owner: int) -> bool:
        return False


class RetryMemory(Protocol):
    """The last request of each owner (for Retry) and where its answer ended (its
    Retry button)."""

    async def remember_request(
        self, owner: int, conversation_id: str, question: ChatTurn
    ) -> None: ...

    async def last_request(self, owner: int) -> tuple[str, ChatTurn] | None: ...

    async def remember_answer(self, owner: int, chat_id: int, message_id: int) -> None: ...

    async def last_answer(self, owner: int) -> tuple[int, int] | None: ...

    async def forget(self, owner: int) -> None:
        """/new, /forget: the last request is no longer there to retry."""
        ...


class LocalRetries:
    """RetryMemory in this process's memory (bounded; gone at a restart)."""

    def __init__(self, tracked: int = TRACKED_USERS) -> None:
        self._requests: LRUCache[int, tuple[str, ChatTurn]] = LRUCache(tracked)
        self._answers: LRUCache[int, tuple[int, int]] = LRUCache(tracked)

    async def remember_request(self, owner: int, conversation_id: str, question: ChatTurn) -> None:
        self._requests[owner] = (conversation_id, question)

    async def last_request(self, owner: int) -> tuple[str, ChatTurn] | None:
        return self._requests.get(owner)

    async def remember_answer(self, owner: int, chat_id: int, message_id: int) -> None:
        self._answers[owner] = (chat_id, message_id)

    async def last_answer(self, owner: int) -> tuple[int, int] | None:
        return self._answers.get(owner)

    async def forget(self, owner: int) -> None:
        self._requests.pop(owner, None)
