"""Broadcasts: paced, resumable, and never delivering one broadcast to a user twice.

Each broadcast has a header (`Storage.save_broadcast`) and an append-only delivery log
(`Storage.open_deliveries`): a user is marked tried when the send begins (after its
pacing wait), then with its outcome (delivered, blocked, failed). A graceful stop lets
the sends in flight finish, so a restart resumes with every user reached exactly once.
After a crash (kill -9), users tried without an outcome are skipped: at most the few
sends in flight at that instant are lost, and nobody gets the message twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from services.models import Broadcast, DeliveryOutcome
from services.storage.base import DeliveryLog, Storage

logger = logging.getLogger(__name__)

__all__ = ["Broadcast", "BroadcastService", "RetryLaterError", "SendOutcome"]

SendOutcome = DeliveryOutcome
# Sends one broadcast to one user; raises RetryLaterError to be retried after a pause.
Sender = Callable[["Broadcast", int], Awaitable[SendOutcome]]
ProgressListener = Callable[["Broadcast"], Awaitable[None]]


class RetryLaterError(Exception):
    """Telegram said 429: wait `seconds`, then send to the same user again."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}")
        self.seconds = seconds


class BroadcastService:
    def __init__(self, storage: Storage, *, rate: float, concurrency: int = 4) -> None:
        self._storage = storage
        self._rate = rate
        self._concurrency = concurrency
        self._cancelled: set[str] = set()
        self._stopping = False  # shutting down: finish the sends in flight, resume later
        self._running: dict[str, asyncio.Task[Broadcast]] = {}
        self._claimed: set[str] = set()  # drafts an admin has sent or cancelled

    async def create(
        self,
        created_by: int,
        *,
        text: str | None = None,
        from_chat_id: int | None = None,
        message_id: int | None = None,
    ) -> Broadcast:
        broadcast = Broadcast(
            id=secrets.token_hex(4),
            created_by=created_by,
            created_at=time.time(),
            text=text,
            from_chat_id=from_chat_id,
            message_id=message_id,
        )
        await self.save(broadcast)
        return broadcast

    async def save(self, broadcast: Broadcast) -> None:
        await self._storage.save_broadcast(broadcast)

    async def get(self, broadcast_id: str) -> Broadcast | None:
        return await self._storage.load_broadcast(broadcast_id)

    async def unfinished(self) -> list[Broadcast]:
        """Broadcasts that were running when the process stopped."""
        return [b for b in await self._storage.load_broadcasts() if b.status == "running"]

    def claim(self, broadcast_id: str) -> bool:
        """Take the one decision on a draft (send or cancel); False if already taken.

        Synchronous check-and-set: call it before the first await, so that two
        presses handled at once cannot both start (or cancel) the broadcast.
        """
        if broadcast_id in self._claimed:
            return False
        self._claimed.add(broadcast_id)
        return True

    def release(self, broadcast_id: str) -> None:
        """Give a claim back when nothing was decided (e.g. another broadcast is running)."""
        self._claimed.discard(broadcast_id)

    def cancel(self, broadcast_id: str) -> bool:
        if broadcast_id not in self._running:
            return False
        self._cancelled.add(broadcast_id)
        return True

    async def request_stop(self, broadcast_id: str) -> None:
        """Stop pressed through a process where the broadcast does not run."""
        await self._storage.save_state(f"broadcast-stop-{broadcast_id}", {"at": time.time()})

    async def stop_requested(self, broadcast_id: str) -> bool:
        return await self._storage.load_state(f"broadcast-stop-{broadcast_id}") is not None

    def stop_all(self) -> None:
        """Let every broadcast finish its sends in flight and stop, still "running",
        so that the next start resumes it with nobody sent twice or skipped."""
        self._stopping = True

    async def run(
        self,
        broadcast: Broadcast,
        recipients: list[int],
        send: Sender,
        on_progress: ProgressListener,
        *,
        progress_every: float = 2.0,
    ) -> Broadcast:
        """Send to every recipient not yet in the delivery log, at most `rate` per second."""
        self._running[broadcast.id] = asyncio.current_task()  # type: ignore[assignment]
        try:
            return await self._run(broadcast, recipients, send, on_progress, progress_every)
        finally:
            self._running.pop(broadcast.id, None)
            self._cancelled.discard(broadcast.id)

    async def _run(
        self,
        broadcast: Broadcast,
        recipients: list[int],
        send: Sender,
        on_progress: ProgressListener,
        progress_every: float,
    ) -> Broadcast:
        tried, results = await self._storage.read_deliveries(broadcast.id)
        # The delivery log is the truth; the header's counters may lag behind it.
        broadcast.delivered = broadcast.blocked = broadcast.failed = 0
        broadcast.skipped = len(tried - set(results))  # crashed mid-send: never resent
        for outcome in results.values():
            _count(broadcast, outcome)
        todo = [user_id for user_id in dict.fromkeys(recipients) if user_id not in tried]
        broadcast.total = broadcast.processed + len(todo)
        broadcast.status = "running"
        await self.save(broadcast)

        deliveries = await self._storage.open_deliveries(broadcast.id)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for user_id in todo:
            queue.put_nowait(user_id)
        pacer = _Pacer(self._rate)
        last_progress = 0.0

        async def worker() -> None:
            nonlocal last_progress
            while not queue.empty() and not self._stopping and broadcast.id not in self._cancelled:
                user_id = queue.get_nowait()
                outcome = await self._send_with_retries(broadcast, user_id, send, pacer, deliveries)
                if outcome is None:
                    continue  # another process has this user (a shared store)
                await deliveries.done(user_id, outcome)
                _count(broadcast, outcome)
                if time.monotonic() - last_progress >= progress_every:
                    last_progress = time.monotonic()
                    await self.save(broadcast)
                    await _safely(on_progress, broadcast)

        try:
            await asyncio.gather(*(worker() for _ in range(self._concurrency)))
        finally:
            await deliveries.close()
        if self._stopping and broadcast.id not in self._cancelled:
            await self.save(broadcast)  # still "running": resumed at the next start
            return broadcast
        broadcast.status = "cancelled" if broadcast.id in self._cancelled else "done"
        await self.save(broadcast)
        await _safely(on_progress, broadcast)
        return broadcast

    async def _send_with_retries(
        self,
        broadcast: Broadcast,
        user_id: int,
        send: Sender,
        pacer: _Pacer,
        deliveries: DeliveryLog,
    ) -> SendOutcome | None:
        for attempt in range(5):
            await pacer.wait()
            # Marked only now that the send begins (a wait is not a try); the mark is the
            # claim: a user another process marked first is theirs.
            if attempt == 0 and not await deliveries.tried(user_id):
                return None
            try:
                return await send(broadcast, user_id)
            except RetryLaterError as error:
                logger.info("Broadcast %s: 429, pausing %.1f s", broadcast.id, error.seconds)
                pacer.pause(error.seconds)
        return "failed"


class _Pacer:
    """Spaces sends evenly at `rate` per second across all workers; 429 pauses everyone."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, time.monotonic() + seconds)


def _count(broadcast: Broadcast, outcome: str) -> None:
    if outcome == "delivered":
        broadcast.delivered += 1
    elif outcome == "blocked":
        broadcast.blocked += 1
    else:
        broadcast.failed += 1


async def _safely(listener: ProgressListener, broadcast: Broadcast) -> None:
    try:
        await listener(broadcast)
    except Exception:
        logger.warning("Broadcast progress update failed", exc_info=True)
