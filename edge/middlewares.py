"""Per-update context: the current user and their texts; in-flight tracking; a user's
arrival order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update, User

from edge.callbacks import AnswerAct, AnswerControl
from services.limits.flood import ANSWER_COST, Flood, Verdict
from services.users import UsersService
from texts import get_texts, language_for


class UserContextMiddleware(BaseMiddleware):
    """Registers the sender and injects `user` (UserRecord), `texts` (Texts) and
    `first_visit` (bool: the sender was registered by this very update)."""

    def __init__(self, users: UsersService) -> None:
        self._users = users

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: User | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return await handler(event, data)
        language = language_for(sender.language_code)
        data["texts"] = get_texts(language)
        if isinstance(event, Update) and event.pre_checkout_query is not None:
            # Telegram waits at most 10 s for this answer: no storage write before it.
            return await handler(event, data)
        data["user"], data["first_visit"] = await self._users.arrive(
            sender.id, first_name=sender.first_name, username=sender.username, language=language
        )
        return await handler(event, data)


class InFlightMiddleware(BaseMiddleware):
    """Remembers the tasks handling updates, so shutdown can let them finish."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is None:
            return await handler(event, data)
        self.tasks.add(task)
        try:
            return await handler(event, data)
        finally:
            self.tasks.discard(task)

    async def wait(self, seconds: float) -> int:
        """Wait up to `seconds`; return how many handlers were still running."""
        pending = {task for task in self.tasks if task is not asyncio.current_task()}
        if not pending:
            return 0
        _, still_running = await asyncio.wait(pending, timeout=seconds)
        return len(still_running)


# The update's data key of an event set when its turn passes: in webhook mode Telegram
# gets its 2xx then (runtime/webhook.py), and sends the chat's next update.
TURN_ACK = "turn_ack"


class Turn:
    """One update's place in its sender's arrival order (see ArrivalOrder)."""

    __slots__ = ("_ack", "_order", "_ticket", "_user_id")

    def __init__(
        self, order: ArrivalOrder, user_id: int, ticket: int, ack: asyncio.Event | None = None
    ) -> None:
        self._order, self._user_id, self._ticket, self._ack = order, user_id, ticket, ack

    async def wait(self) -> None:
        """Until every earlier update of this user has passed (or finished)."""
        await self._order.wait(self._user_id, self._ticket)

    def passed(self) -> None:
        """This update has done what had to happen in order; later ones may go on (in
        webhook mode, Telegram's next update of the chat too)."""
        self._order.passed(self._user_id, self._ticket)
        if self._ack is not None:
            self._ack.set()


class ArrivalOrder(BaseMiddleware):
    """Keeps a user's updates in arrival order where a handler asks for it (`turn`).

    Updates are handled concurrently, and the steps before a handler take different
    times (a new user's registration writes a file), so a burst could reach the chat
    handler out of order. Each update takes a ticket as it arrives, before any await;
    a handler that cares awaits `turn.wait()`, and its ticket counts as passed when it
    calls `turn.passed()` or finishes. A handler that goes on long after its part in
    order (an answer being written) passes its turn at that point: in webhook mode that is
    when Telegram is answered.
    """

    def __init__(self) -> None:
        self._tickets = itertools.count()  # one sequence for everyone: never reused
        self._open: dict[int, set[int]] = {}  # user -> tickets not passed yet
        self._changed: dict[int, asyncio.Event] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: User | None = data.get("event_from_user")
        if sender is None:
            return await handler(event, data)
        user_id, ticket = sender.id, next(self._tickets)
        self._open.setdefault(user_id, set()).add(ticket)
        data["turn"] = Turn(self, user_id, ticket, data.get(TURN_ACK))
        try:
            return await handler(event, data)
        finally:
            self.passed(user_id, ticket)

    async def wait(self, user_id: int, ticket: int) -> None:
        while any(earlier < ticket for earlier in self._open.get(user_id, ())):
            await self._changed.setdefault(user_id, asyncio.Event()).wait()

    def passed(self, user_id: int, ticket: int) -> None:
        tickets = self._open.get(user_id)
        if tickets is None or ticket not in tickets:
            return
        tickets.discard(ticket)
        if not tickets:
            del self._open[user_id]
        event = self._changed.pop(user_id, None)
        if event is not None:
            event.set()


class FloodMiddleware(BaseMiddleware):
    """Drops a user's updates beyond flood control's limit; the first excess gets one
    polite notice. Payments (pre-checkout, successful payment) and what stops work
    (/cancel, Stop under an answer, Telegram's own stop button) always pass.

    A private message costs ANSWER_COST, unless one of the sender's private messages is
    still being handled (its answer is being written, or it waits its turn; on any
    process, with Redis): then it queues and joins that answer, and costs one like any
    other update."""

    def __init__(self, flood: Flood) -> None:
        self._flood = flood

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: User | None = data.get("event_from_user")
        if (
            sender is None
            or sender.is_bot
            or not isinstance(event, Update)
            or _is_money(event)
            or _stops_work(event)
        ):
            return await handler(event, data)
        message = event.message
        if message is None or message.chat.type != "private":
            verdict = await self._flood.check(sender.id)
            if verdict is Verdict.PASS:
                return await handler(event, data)
        else:
            command = (message.text or "").startswith("/")  # a command never joins an answer
            sent_at = min(time.time(), message.date.timestamp())  # Telegram's, to the second
            verdict = await self._flood.check(
                sender.id, sent_at, ANSWER_COST, joining=ANSWER_COST if command else 1
            )
            if verdict is Verdict.PASS:
                try:
                    return await handler(event, data)
                finally:
                    await self._flood.handled(sender.id)
        if verdict is Verdict.WARN:
            bot: Bot | None = data.get("bot")
            if bot is not None:
                texts = get_texts(language_for(sender.language_code))
                with contextlib.suppress(TelegramAPIError):
                    await bot.send_message(sender.id, texts("flood_notice"))
        return None


STOP_BUTTON = AnswerControl(action=AnswerAct.STOP).pack()


def _stops_work(update: Update) -> bool:
    """/cancel, Stop under an answer, or Telegram's stop of a draft: cheap, and what a
    user in a flood cooldown may need most."""
    if update.stopped_message_generation is not None:
        return True
    if update.callback_query is not None:
        return update.callback_query.data == STOP_BUTTON
    text = update.message.text if update.message is not None else None
    return text is not None and (text == "/cancel" or text.startswith("/cancel@"))


def _is_money(update: Update) -> bool:
    message = update.message
    return update.pre_checkout_query is not None or (
        message is not None and message.successful_payment is not None
    )
