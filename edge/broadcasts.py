"""Broadcasts as background tasks: live progress for the admin, stop, resume at start-up.
Each send goes through the notifier without waiting on a 429: the broadcast's own
pacing (services.operator.broadcast) slows down instead.

Broadcasts run on the process that leads the singleton jobs (runtime/leader.py): a
broadcast an admin starts through another process is saved as running and picked up by
the leader's next look (`watch`), a Stop pressed there is a request the leader reads, and
when the leader dies the next one resumes what it left (the delivery log's claims keep
every user to one send)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from edge.admin_keyboards import broadcast_stop_keyboard
from edge.editing import edit_text
from edge.notifier import Delivery, Notifier
from runtime.leader import Leadership
from services.operator.broadcast import Broadcast, BroadcastService, RetryLaterError, SendOutcome
from services.users import UsersService

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 2.0  # seconds between the leader's looks for broadcasts to run or stop


class BroadcastRunner:
    """Runs broadcasts as background tasks and shows their progress to the admin."""

    def __init__(
        self,
        service: BroadcastService,
        users: UsersService,
        notifier: Notifier,
        leadership: Leadership | None = None,
    ) -> None:
        self._bot: Bot | None = None
        self._service = service
        self._users = users
        self._notifier = notifier
        self._leadership = leadership if leadership is not None else Leadership()
        self._tasks: dict[str, asyncio.Task[Broadcast]] = {}
        self._leadership.listeners.append(self._lead_changed)

    def attach(self, bot: Bot) -> None:
        self._bot = bot

    @property
    def bot(self) -> Bot:
        assert self._bot is not None, "attach() the bot at start-up"
        return self._bot

    async def running_id(self) -> str | None:
        """The broadcast running now, here or on another process."""
        local = next(iter(self._tasks), None)
        if local is not None:
            return local
        return next((b.id for b in await self._service.unfinished()), None)

    def start(self, broadcast: Broadcast) -> None:
        """Run a broadcast saved as running: here if this process leads, else the
        leader's next look finds it."""
        if not self._leadership.leading or broadcast.id in self._tasks:
            return
        task = asyncio.create_task(self._run(broadcast), name=f"broadcast-{broadcast.id}")
        self._tasks[broadcast.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(broadcast.id, None))

    async def request_stop(self, broadcast_id: str) -> None:
        """Stop pressed: at once if it runs here, else through the leader's next look."""
        if not self._service.cancel(broadcast_id):
            await self._service.request_stop(broadcast_id)

    async def watch(self, bot: Bot, interval: float = WATCH_INTERVAL) -> None:
        """While this process leads: resume what was running (the admin is told), start
        what other processes saved as running, and read their Stop requests."""
        self.attach(bot)
        resumed = True  # what is found on the first look was left by a stopped process
        while True:
            for broadcast in await self._service.unfinished():
                if broadcast.id in self._tasks:
                    if await self._service.stop_requested(broadcast.id):
                        self._service.cancel(broadcast.id)
                    continue
                if resumed:
                    logger.info("Resuming broadcast %s", broadcast.id)
                    await self._notifier.tell_user(
                        bot,
                        broadcast.created_by,
                        "admin_broadcast_resumed",
                        broadcast_id=broadcast.id,
                    )
                self.start(broadcast)
            resumed = False
            await asyncio.sleep(interval)

    async def _lead_changed(self, leading: bool) -> None:
        """Lost the lead: the next leader resumes these (the log keeps users to one send)."""
        if not leading:
            for task in list(self._tasks.values()):
                task.cancel()

    async def stop(self, grace: float = 5.0) -> None:
        """At shutdown: finish the sends in flight, then stop; the next start resumes."""
        self._service.stop_all()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=grace)
        for task in stuck:
            task.cancel()
        for task in stuck:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, broadcast: Broadcast) -> Broadcast:
        recipients = await self._users.broadcast_recipients()
        return await self._service.run(broadcast, recipients, self._send, self._progress)

    async def _send(self, broadcast: Broadcast, user_id: int) -> SendOutcome:
        if broadcast.text is not None:
            sent = await self._notifier.send(self.bot, user_id, broadcast.text, wait=False)
        else:
            assert broadcast.from_chat_id is not None and broadcast.message_id is not None
            sent = await self._notifier.copy(
                self.bot, user_id, broadcast.from_chat_id, broadcast.message_id, wait=False
            )
        if sent.delivery is Delivery.LIMITED:
            raise RetryLaterError(sent.retry_after or 1.0)
        if sent.delivery is Delivery.BLOCKED:  # the notifier marked them blocked
            return "blocked"
        return "delivered" if sent.ok else "failed"

    async def _progress(self, broadcast: Broadcast) -> None:
        texts = await self._notifier.texts_for(broadcast.created_by)
        key = {
            "done": "admin_broadcast_done",
            "cancelled": "admin_broadcast_cancelled",
        }.get(broadcast.status, "admin_broadcast_progress")
        text = texts(
            key,
            broadcast_id=broadcast.id,
            processed=broadcast.processed,
            total=broadcast.total,
            delivered=broadcast.delivered,
            blocked=broadcast.blocked,
            failed=broadcast.failed,
            skipped=broadcast.skipped,
        )
        markup = (
            broadcast_stop_keyboard(broadcast.id, texts) if broadcast.status == "running" else None
        )
        chat_id = broadcast.status_chat_id or broadcast.created_by
        if broadcast.status_message_id is None:
            message = await self.bot.send_message(chat_id, text, reply_markup=markup)
            broadcast.status_chat_id, broadcast.status_message_id = chat_id, message.message_id
            await self._service.save(broadcast)
            return
        with contextlib.suppress(TelegramRetryAfter):  # best effort: the next update shows it
            await edit_text(self.bot, chat_id, broadcast.status_message_id, text, markup)
