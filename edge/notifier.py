"""Every message the bot sends on its own (notices, reminders, rewards, alerts, requests
to managers, model moves, the outbox's notices), with one policy for Telegram's answers:

- 429: wait `retry_after` and try again (a caller with its own pacing, the outbox or a
  broadcast, gets LIMITED at once instead, with the wait);
- 403: the user blocked the bot (or never started it): marked blocked, so broadcasts
  skip them until they write again;
- anything else: logged with Telegram's reason, and the caller told (REFUSED for a
  final no, FAILED for a failure that may pass).

The recipient's language is looked up here and nowhere else (`texts_for`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup

from services.chat.formatting import split_lines, split_plain
from services.users import UsersService
from texts import Texts, get_texts

logger = logging.getLogger(__name__)

RETRIES = 3  # sends again after a 429, each after its retry_after


class Delivery(Enum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the user blocked the bot (now marked so)
    REFUSED = "refused"  # Telegram's final no (400 and the like)
    LIMITED = "limited"  # 429 not waited for (or still after the retries): `retry_after`
    FAILED = "failed"  # 5xx, no answer: may work later


@dataclass(slots=True, frozen=True)
class Sent:
    """What came of one send."""

    delivery: Delivery
    reason: str = ""  # Telegram's words when not sent
    retry_after: float | None = None  # LIMITED: seconds Telegram asked to wait

    @property
    def ok(self) -> bool:
        return self.delivery is Delivery.SENT


SENT = Sent(Delivery.SENT)
Render = Callable[[Texts], tuple[str, InlineKeyboardMarkup | None]]


class Notifier:
    """The one sender for what the bot says unprompted; made with the dispatcher
    (handlers get it as `notifier`), given the bot at each send."""

    def __init__(self, users: UsersService, admin_ids: frozenset[int]) -> None:
        self._users = users
        self.admin_ids = admin_ids

    async def texts_for(self, user_id: int) -> Texts:
        """The texts a user (or an admin) reads: their language as last seen."""
        return get_texts(await self._users.language(user_id))

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        html: bool = True,
        wait: bool = True,
    ) -> Sent:
        """One message (`wait=False`: a 429 comes back LIMITED instead of being waited)."""
        return await self._deliver(
            chat_id,
            lambda: bot.send_message(
                chat_id, text, reply_markup=markup, parse_mode="HTML" if html else None
            ),
            wait=wait,
        )

    async def copy(
        self, bot: Bot, chat_id: int, from_chat_id: int, message_id: int, *, wait: bool = True
    ) -> Sent:
        """A copy of a message (a receipt, a broadcast)."""
        return await self._deliver(
            chat_id, lambda: bot.copy_message(chat_id, from_chat_id, message_id), wait=wait
        )

    async def send_long(
        self,
        bot: Bot,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        html: bool = True,
    ) -> Sent:
        """`text` in as many messages as it needs (split at line breaks), the buttons
        under the last; stops at the first part not sent."""
        parts = split_lines(text) if html else split_plain(text)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sent = await self.send(bot, chat_id, part, markup if last else None, html=html)
            if not sent.ok:
                return sent
        return SENT

    async def tell_user(
        self,
        bot: Bot,
        user_id: int,
        key: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        wait: bool = True,
        **values: object,
    ) -> Sent:
        """The text `key` in the user's language."""
        texts = await self.texts_for(user_id)
        return await self.send(bot, user_id, texts(key, **values), markup, wait=wait)

    async def tell_admins(self, bot: Bot, render: Render) -> None:
        """Every admin, in their own language (long texts in several messages); one
        unreachable admin does not stop the others."""
        for admin_id in self.admin_ids:
            text, markup = render(await self.texts_for(admin_id))
            await self.send_long(bot, admin_id, text, markup)

    async def alert_admins(self, bot: Bot, text: str) -> None:
        """A plain-text alert (it may quote anything) to every admin."""
        for admin_id in self.admin_ids:
            await self.send_long(bot, admin_id, text, html=False)

    async def _deliver(
        self, chat_id: int, request: Callable[[], Awaitable[object]], *, wait: bool
    ) -> Sent:
        retries = 0
        while True:
            try:
                await request()
            except TelegramRetryAfter as error:
                if not wait or retries == RETRIES:
                    logger.warning("Not sent to %s for now: %s", chat_id, error.message)
                    return Sent(Delivery.LIMITED, error.message, float(error.retry_after))
                retries += 1
                await asyncio.sleep(error.retry_after)
                continue
            except TelegramForbiddenError as error:
                logger.info("Chat %s takes no messages from the bot: %s", chat_id, error.message)
                await self._users.mark_blocked(chat_id)
                return Sent(Delivery.BLOCKED, error.message)
            except (TelegramBadRequest, TelegramNotFound) as error:
                logger.warning("Telegram refused a message to %s: %s", chat_id, error.message)
                return Sent(Delivery.REFUSED, error.message)
            except TelegramAPIError as error:  # 5xx, no answer, and the like
                reason = f"{type(error).__name__}: {error.message}"
                logger.warning("Could not send to %s: %s", chat_id, reason)
                return Sent(Delivery.FAILED, reason)
            return SENT
