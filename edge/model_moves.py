"""A user whose model is no longer served is moved (services.model_check) before their
next private message is handled, and told once (through the notifier) which model
answers now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import Message, TelegramObject

from edge.notifier import Notifier
from services.chat.chat import ChatService
from services.chat.model_check import ModelCheck
from services.models import UserRecord
from services.users import UsersService
from texts import Texts


class ModelMoveMiddleware(BaseMiddleware):
    """Outer middleware on messages (after UserContextMiddleware gave `user`, `texts`)."""

    def __init__(
        self, check: ModelCheck, users: UsersService, chat: ChatService, notifier: Notifier
    ) -> None:
        self._check = check
        self._users = users
        self._chat = chat
        self._notifier = notifier

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: UserRecord | None = data.get("user")
        texts: Texts | None = data.get("texts")
        bot: Bot | None = data.get("bot")
        if (
            user is None
            or texts is None
            or bot is None
            or not isinstance(event, Message)
            or event.chat.type != "private"
        ):
            return await handler(event, data)
        move = await self._check.settle(user, self._users, self._chat.conversations)
        if move is not None:
            text = texts(
                "model_moved", old=move.old.name, new=move.new.name, provider=move.provider
            )
            await self._notifier.send(bot, event.chat.id, text)
        return await handler(event, data)
