"""The outbox worker: does at Telegram what `services.money.outbox` holds, and retries
(the Stars gateway returns Stars and cancels renewals; the notifier tells users).

Each item is run by one task at a time (a second caller awaits the same task): the
background loop, or an admin's /refund that wants the outcome at once. Telegram's
answer decides what follows: done (recorded with what it completes), a final refusal
(400, 403: given up, the admins told), or a temporary failure (429, 5xx, no answer:
retried after `retry_after` or a growing back-off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from zoneinfo import ZoneInfo

from aiogram import Bot

from edge import stars
from edge.keyboards import notice_keyboard
from edge.notifier import Delivery, Notifier
from services.container import Services
from services.models import OutboxItem
from services.money.outbox import OutboxService
from texts import format_moment

logger = logging.getLogger(__name__)

IDLE_WAIT = 30.0  # seconds the loop sleeps at most when nothing is due


class Outcome(Enum):
    DONE = "done"
    FAILED = "failed"  # Telegram finally refused; given up
    RETRYING = "retrying"  # a temporary failure; tried again later


@dataclass(slots=True, frozen=True)
class RunResult:
    item: OutboxItem
    outcome: Outcome
    error: str | None = None
    follow_ups: tuple[RunResult, ...] = field(default=())


class _TemporaryError(Exception):
    def __init__(self, error: str, delay: float | None = None) -> None:
        super().__init__(error)
        self.delay = delay


class _RefusedError(Exception):
    """Telegram's final no."""


class OutboxWorker:
    def __init__(self, services: Services, notifier: Notifier, zone: ZoneInfo) -> None:
        self._services = services
        self._notifier = notifier
        self._outbox: OutboxService = services.payments.outbox
        self._zone = zone
        self._running: dict[str, asyncio.Task[RunResult | None]] = {}

    async def run(self, bot: Bot, item_id: str) -> RunResult | None:
        """Do one item now (or await the run already going); None if it is done."""
        task = self._running.get(item_id)
        if task is None:
            item = self._outbox.claim(item_id)
            if item is None:
                return None
            task = asyncio.ensure_future(self._run_claimed(bot, item))
            self._running[item_id] = task
            task.add_done_callback(lambda _: self._running.pop(item_id, None))
        return await asyncio.shield(task)

    async def loop(self, bot: Bot) -> None:
        """Forever: run what is due, then sleep until the next item is due or one is added."""
        while True:
            self._outbox.changed.clear()
            for item in self._outbox.due():
                try:
                    await self.run(bot, item.id)
                except Exception:
                    logger.exception("Outbox item %s crashed", item.id)
            next_due = self._outbox.next_due_at()
            wait = IDLE_WAIT if next_due is None else max(0.05, next_due - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.changed.wait(), min(wait, IDLE_WAIT))

    # One item --------------------------------------------------------------------------
    async def _run_claimed(self, bot: Bot, item: OutboxItem) -> RunResult:
        try:
            try:
                follow_ups = await self._do(bot, item)
            except _TemporaryError as problem:
                later = await self._outbox.retry_later(item, str(problem), problem.delay)
                if later.failed is not None:
                    await self._given_up(bot, later)
                    return RunResult(later, Outcome.FAILED, later.failed)
                logger.warning("Outbox %s %s: %s; retrying", item.kind, item.id, problem)
                return RunResult(later, Outcome.RETRYING, str(problem))
            except _RefusedError as refusal:
                failed = await self._outbox.fail(item, str(refusal))
                await self._given_up(bot, failed)
                return RunResult(failed, Outcome.FAILED, str(refusal))
        finally:
            self._outbox.release(item.id)
        if item.attempts and item.kind != "tell_user":  # done after earlier failures
            await self._services.alerts.alert(
                f"outbox:{item.id}", f"Done after {item.attempts + 1} tries: {_describe(item)}"
            )
        results = []
        for follow_up in follow_ups:
            result = await self.run(bot, follow_up.id)
            if result is not None:
                results.append(result)
        return RunResult(item, Outcome.DONE, follow_ups=tuple(results))

    async def _do(self, bot: Bot, item: OutboxItem) -> list[OutboxItem]:
        """Telegram's part, then the record of it; the follow-ups to run now."""
        payments = self._services.payments
        if item.kind == "refund_stars":
            await _call(stars.refund(bot, item.user_id, item.charge_id or ""))
            return await _recorded(payments.complete_refund(item))
        if item.kind == "cancel_renewal":
            await _call(stars.set_renewal(bot, item.user_id, item.charge_id or "", canceled=True))
            await _recorded(payments.complete_cancel(item))
            return []
        await self._tell(bot, item)
        await _recorded(self._outbox.done(item))
        return []

    async def _tell(self, bot: Bot, item: OutboxItem) -> None:
        """A tell_user item: its text in the user's language, through the notifier (a 429
        is retried here, after Telegram's wait, not waited for)."""
        texts = await self._notifier.texts_for(item.user_id)
        values: dict[str, object] = dict(item.params)
        values.update((name, format_moment(at, self._zone)) for name, at in item.moments)
        markup = notice_keyboard(item.text or "", dict(item.params), texts)
        sent = await self._notifier.send(
            bot, item.user_id, texts(item.text or "", **values), markup, wait=False
        )
        if sent.delivery in (Delivery.BLOCKED, Delivery.REFUSED):
            raise _RefusedError(sent.reason)
        if not sent.ok:
            raise _TemporaryError(sent.reason, sent.retry_after)

    async def _given_up(self, bot: Bot, item: OutboxItem) -> None:
        """A final failure: the admins are told; for a renewal Telegram would not cancel,
        the user too (Telegram would go on charging them)."""
        logger.error("Outbox %s %s given up: %s", item.kind, item.id, item.failed)
        if item.kind == "tell_user":
            return  # the user blocked the bot, or the text was refused: nothing to add
        await self._services.alerts.alert(
            f"outbox:{item.id}", f"Telegram refused: {_describe(item)}: {item.failed}"
        )
        if item.kind == "cancel_renewal":
            record = self._services.payments.stars_subscription(item.subscription_id or "")
            plan_id = record.plan_id if record is not None else ""
            plan = self._services.catalog.plans_by_id.get(plan_id)
            await self._services.payments.tell_later(
                item.user_id, "renewal_cancel_failed", {"plan": plan.name if plan else plan_id}
            )


async def _call(request: Awaitable[None]) -> None:
    """A Stars call, its failure sorted: final (`_RefusedError`) or temporary."""
    try:
        await request
    except stars.StarsCallError as error:
        if error.final:
            raise _RefusedError(str(error)) from error
        raise _TemporaryError(str(error), error.retry_after) from error


async def _recorded(write: Awaitable[object]) -> list[OutboxItem]:
    """Record what Telegram did; a failed write is retried (Telegram's part is
    idempotent: a refund again answers CHARGE_ALREADY_REFUNDED)."""
    try:
        result = await write
    except OSError as error:
        raise _TemporaryError(f"recording failed: {error}") from error
    return (
        [item for item in result if isinstance(item, OutboxItem)]
        if isinstance(result, list)
        else []
    )


def _describe(item: OutboxItem) -> str:
    if item.kind == "refund_stars":
        return f"refund of {item.payment_id} (charge {item.charge_id}, user {item.user_id})"
    if item.kind == "cancel_renewal":
        return (
            f"cancelling the renewal of Stars subscription {item.subscription_id} "
            f"(user {item.user_id}, after the refund of {item.payment_id})"
        )
    return f"message {item.text} to user {item.user_id}"
