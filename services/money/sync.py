"""Money decisions with several processes on one store: made one at a time, on records
that include what the other processes committed.

Each process keeps the live money records in memory (the fast path). On a `shared` store
every money decision runs inside `decide`: the store's decision lock is held (all
processes), the others' commits are taken into memory (`catch_up`), then the service
checks and commits as it does alone. A store one process owns holds no lock and has no
changes to take in: `decide` is then a plain call.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from services.storage.base import ConflictError, MoneyRule, Storage, Transaction

logger = logging.getLogger(__name__)

ATTEMPTS = 3  # a STALE commit (a decision that read an old record) is made again

P = ParamSpec("P")
T = TypeVar("T")
Absorb = Callable[[Transaction], None]

_deciding: contextvars.ContextVar[bool] = contextvars.ContextVar("deciding", default=False)


class MoneySync:
    """Takes other processes' commits into this one's memory, and holds decisions."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._absorbers: list[Absorb] = []
        self._reading = asyncio.Lock()  # one read of the money log at a time
        self.taken_in = 0  # transactions taken in from other processes (for /health)

    @property
    def shared(self) -> bool:
        return self._storage.shared

    def add(self, absorb: Absorb) -> None:
        """A service's way of taking in committed records (its tables' `install`)."""
        self._absorbers.append(absorb)

    async def catch_up(self) -> int:
        """Take in what the other processes committed since the last time."""
        if not self._storage.shared:
            return 0
        async with self._reading:
            changes = await self._storage.money_changes()
            for transaction in changes:
                for absorb in self._absorbers:
                    absorb(transaction)
        self.taken_in += len(changes)
        return len(changes)

    async def decide(self, decision: Callable[[], Awaitable[T]]) -> T:
        """Run one money decision (check and commit) on current records."""
        if not self._storage.shared or _deciding.get():
            return await decision()  # alone, or inside a decision already held
        token = _deciding.set(True)
        try:
            for attempt in range(1, ATTEMPTS + 1):
                async with self._storage.money_decision():
                    await self.catch_up()
                    try:
                        return await decision()
                    except ConflictError as conflict:
                        if conflict.rule is not MoneyRule.STALE or attempt == ATTEMPTS:
                            raise
                        logger.warning("Money decision read a changed record; again: %s", conflict)
            raise AssertionError("unreachable")
        finally:
            _deciding.reset(token)


class Synced(Protocol):
    sync: MoneySync


S = TypeVar("S", bound=Synced)


def synced(
    method: Callable[Concatenate[S, P], Awaitable[T]],
) -> Callable[Concatenate[S, P], Awaitable[T]]:
    """A service method that makes a money decision: run through its `sync.decide`."""

    @functools.wraps(method)
    async def decided(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.sync.decide(lambda: method(self, *args, **kwargs))

    return decided
