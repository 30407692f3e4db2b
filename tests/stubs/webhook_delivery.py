"""The emulator's webhook side: what the Bot API server does once `setWebhook` is set.

Read from tdlib/telegram-bot-api (Client.cpp, WebhookActor.cpp, v10.0):
- Updates wait in queues: a message (and its edits) in its chat's queue, a callback
  query in its sender's (user id + 3 << 33), shipping and pre-checkout queries in the
  sender's (+ 4 << 33); anything else in a queue of its own. Only the front update of a
  queue is in flight; the next is sent after a 2xx answer (or once the front is dropped).
  So one chat's updates arrive one at a time, while different queues go concurrently, at
  most `max_connections` requests at once.
- A POST of the update as JSON (`Content-Type: application/json`) with the header
  `X-Telegram-Bot-Api-Secret-Token` when a secret is set.
- A non-2xx answer, a broken connection or no answer within the timeout is retried: the
  first retry at once, then after 2 s, 4 s, ... up to a random 60-120 s; a `Retry-After`
  header is honoured (at most 3600 s). `getWebhookInfo` shows the last error (date and
  message, e.g. "Wrong response from the webhook: 503 Service Unavailable"). An update
  is dropped when it expires (a message a day after its date, queries after 150 s).

Knobs for tests: `timeout` (Telegram waits 60 s for an answer), `retry_scale` (every
retry delay multiplied by it: 0.05 turns 2 s into 0.1 s), `targets` (URLs the updates
go to in turn instead of the webhook's URL: several bot processes behind one URL).
`attempts` records every delivery: update id, URL, status or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CALLBACK_QUEUE = 3 << 33
QUERY_QUEUE = 4 << 33
MAX_RESEND_TIMEOUT = 60  # seconds: the retry delay's cap is a random 60-120 s
MAX_RETRY_AFTER = 3600
QUERY_TTL = 150  # seconds a callback, shipping or pre-checkout query stays deliverable
MESSAGE_TTL = 86400  # a message, a day after its date
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_CHAT_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
)


def queue_of(update: dict[str, Any]) -> int | None:
    """The delivery queue an update waits in, as the Bot API server keys it; None: its own."""
    for kind in _CHAT_KINDS:
        if kind in update:
            return int(update[kind]["chat"]["id"])
    if "callback_query" in update:
        return int(update["callback_query"]["from"]["id"]) + CALLBACK_QUEUE
    for kind in ("shipping_query", "pre_checkout_query"):
        if kind in update:
            return int(update[kind]["from"]["id"]) + QUERY_QUEUE
    return None


def expires_at(update: dict[str, Any], now: float) -> float:
    """When the server drops the update (unix time)."""
    for kind in _CHAT_KINDS:
        if kind in update:
            return float(update[kind].get("date") or now) + MESSAGE_TTL
    return now + QUERY_TTL


@dataclass
class Attempt:
    """One POST of an update: its answer's status, or the error that replaced it."""

    update_id: int
    url: str
    started: float
    status: int | None = None
    error: str | None = None
    ended: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299


@dataclass
class Webhook:
    """What setWebhook set."""

    url: str
    secret_token: str = ""
    max_connections: int = 40
    ip_address: str = ""
    last_error_date: int = 0
    last_error_message: str = ""


@dataclass
class _State:
    """An update's retry state while it is pending."""

    update: dict[str, Any]
    queue: int
    expires: float
    delay: float = 1.0
    fails: int = 0
    wakeup: float = 0.0


@dataclass
class _Queues:
    """Updates by delivery queue, in order; which queues have their front in flight."""

    order: dict[int, deque[int]] = field(default_factory=dict)
    busy: set[int] = field(default_factory=set)
    states: dict[int, _State] = field(default_factory=dict)


class WebhookDelivery:
    """Delivers the emulator's pending updates to the webhook while one is set.

    `pending()` gives the emulator's pending updates (oldest first) and `confirm(id)` takes
    one away once answered with a 2xx; `wake()` is called when an update arrives."""

    def __init__(
        self,
        webhook: Webhook,
        pending: Callable[[], list[dict[str, Any]]],
        confirm: Callable[[int], None],
        *,
        timeout: float,
        retry_scale: float,
        targets: list[str] | None,
        attempts: list[Attempt],
    ) -> None:
        self.webhook = webhook
        self._pending = pending
        self._confirm = confirm
        self._timeout = timeout
        self._retry_scale = retry_scale
        self._targets = itertools.cycle(targets) if targets else None
        self.attempts = attempts
        self._queues = _Queues()
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._runner = asyncio.create_task(self._run(), name="webhook delivery")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        """Stop delivering; requests in flight are dropped unanswered (the updates stay
        pending, as the server keeps them for getUpdates or the next webhook)."""
        tasks = [task for task in (self._runner, *self._in_flight) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    def _load(self) -> None:
        """Put newly pending updates at the ends of their queues."""
        queues, now = self._queues, time.time()
        for update in self._pending():
            update_id = update["update_id"]
            if update_id in queues.states:
                continue
            queue = queue_of(update)
            if queue is None:
                queue = -update_id  # a queue of its own (chat ids never go this low)
            queues.states[update_id] = _State(update, queue, expires_at(update, now))
            queues.order.setdefault(queue, deque()).append(update_id)

    def _ready(self) -> tuple[list[_State], float | None]:
        """Queue fronts that may go now (within max_connections), and the next wakeup."""
        queues, now = self._queues, time.monotonic()
        room = self.webhook.max_connections - len(queues.busy)  # one request per busy queue
        ready: list[_State] = []
        next_wakeup: float | None = None
        for queue, ids in queues.order.items():
            if queue in queues.busy or not ids:
                continue
            state = queues.states[ids[0]]
            if state.wakeup > now:
                next_wakeup = min(next_wakeup or state.wakeup, state.wakeup)
            elif len(ready) < room:
                ready.append(state)
        return ready, next_wakeup

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._load()
            ready, next_wakeup = self._ready()
            for state in ready:
                self._queues.busy.add(state.queue)
                task = asyncio.create_task(self._deliver(state))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            wait = None if next_wakeup is None else max(0.0, next_wakeup - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _deliver(self, state: _State) -> None:
        update_id = state.update["update_id"]
        url = next(self._targets) if self._targets else self.webhook.url
        attempt = Attempt(update_id, url, time.monotonic())
        self.attempts.append(attempt)
        headers = {SECRET_HEADER: self.webhook.secret_token} if self.webhook.secret_token else {}
        retry_after = 0
        assert self._session is not None
        try:
            async with self._session.post(
                url,
                json=state.update,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                await response.read()
                attempt.status = response.status
                if not attempt.ok:
                    attempt.error = (
                        f"Wrong response from the webhook: {response.status} {response.reason}"
                    )
                    with contextlib.suppress(ValueError):
                        retry_after = int(response.headers.get("Retry-After", "0"))
        except TimeoutError:
            attempt.error = "Timeout expired"
        except aiohttp.ClientConnectorError as error:
            attempt.error = f"Connection refused: {error.os_error}"
        except aiohttp.ClientError as error:
            attempt.error = f"Webhook connection closed ({type(error).__name__})"
        finally:
            attempt.ended = time.monotonic()
            self._queues.busy.discard(state.queue)
            self.wake()
        if attempt.ok:
            self._done(state)
            self._confirm(update_id)
        else:
            self._failed(state, attempt.error or "error", retry_after)

    def _done(self, state: _State) -> None:
        queues = self._queues
        ids = queues.order[state.queue]
        ids.popleft()
        if not ids:
            del queues.order[state.queue]
        del queues.states[state.update["update_id"]]

    def _failed(self, state: _State, error: str, retry_after: int) -> None:
        """The server's schedule: at once, then 2 s, 4 s, ... (scaled for tests)."""
        self.webhook.last_error_date = int(time.time())
        self.webhook.last_error_message = error
        retry_after = min(max(retry_after, 0), MAX_RETRY_AFTER)
        delay, effective = state.delay, float(retry_after)
        if retry_after == 0 and state.fails > 0:
            cap = random.uniform(MAX_RESEND_TIMEOUT, MAX_RESEND_TIMEOUT * 2)
            delay = min(cap, delay * 2)
            effective = delay
        if time.time() + effective > state.expires:
            self._done(state)  # dropped, as the server drops an expired update
            self._confirm(state.update["update_id"])
            return
        state.delay, state.fails = delay, state.fails + 1
        state.wakeup = time.monotonic() + effective * self._retry_scale
