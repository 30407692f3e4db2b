"""Real aiogram objects for the layers that feed the Dispatcher directly (unit, integration):
a user, a chat, a message, a button press, and the update that carries one.

Every argument but the ids has a default, so a test names only what it checks.
"""

from __future__ import annotations

import datetime as dt
import itertools
from enum import Enum
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Chat, Message, MessageEntity, Update, User

BOT = User(id=42, is_bot=True, first_name="Bot", username="test_bot")
_ids = itertools.count(1)


def user(user_id: int, language: str | None = "ru", **fields: Any) -> User:
    """A person (not a bot); `first_name` is "Иван" unless given."""
    fields.setdefault("first_name", "Иван")
    return User(id=user_id, is_bot=False, language_code=language, **fields)


def chat(chat_id: int, kind: str = "private", **fields: Any) -> Chat:
    return Chat(id=chat_id, type=kind, **fields)


def message(
    user_id: int,
    text: str | None = None,
    *,
    language: str | None = "ru",
    sender: User | None = None,
    in_chat: Chat | None = None,
    message_id: int | None = None,
    **fields: Any,
) -> Message:
    """A message from `user_id` in their private chat (or `in_chat`); a text starting with
    "/" carries its bot_command entity, as Telegram sends it."""
    if text is not None and text.startswith("/") and "entities" not in fields:
        command = text.split()[0]
        fields["entities"] = [MessageEntity(type="bot_command", offset=0, length=len(command))]
    return Message(
        message_id=message_id if message_id is not None else next(_ids),
        date=dt.datetime.now(),
        chat=in_chat or chat(user_id),
        from_user=sender or user(user_id, language),
        text=text,
        **fields,
    )


def bot_message(chat_id: int, text: str = "menu", message_id: int = 1) -> Message:
    """A message the bot sent earlier (what a pressed button is under)."""
    return Message(
        message_id=message_id, date=dt.datetime.now(), chat=chat(chat_id), from_user=BOT, text=text
    )


def callback(
    user_id: int,
    data: str,
    *,
    language: str | None = "ru",
    sender: User | None = None,
    query_id: str | None = None,
    under: Message | None = None,
) -> CallbackQuery:
    """`user_id` presses a button with `data` under `under` (a bot message in their chat)."""
    return CallbackQuery(
        id=query_id if query_id is not None else str(next(_ids)),
        from_user=sender or user(user_id, language),
        chat_instance=str(user_id),
        message=under or bot_message(user_id),
        data=data,
    )


def update(update_id: int | None = None, **event: Any) -> Update:
    """An update carrying one event: `update(message=...)`, `update(callback_query=...)`."""
    return Update(update_id=update_id if update_id is not None else next(_ids), **event)


def callback_prefix(factory: type[CallbackData], **leading: Any) -> str:
    """The packed start of `factory`'s data with its first fields set: what every button
    of that kind begins with (`callback_prefix(AdminPayment, action=PaymentAct.CONFIRM)`
    for a payment id the test does not know)."""
    parts = [factory.__prefix__]
    for name in factory.model_fields:
        if name not in leading:
            break
        value = leading.pop(name)
        parts.append(str(value.value if isinstance(value, Enum) else value))
    assert not leading, f"not leading fields of {factory.__name__}: {sorted(leading)}"
    return factory.__separator__.join(parts) + factory.__separator__
