"""The production Dispatcher fed real Update objects, with a session that records calls."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    CopyMessage,
    EditMessageText,
    GetMe,
    SendDocument,
    SendInvoice,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    Message,
    MessageId,
    Update,
    User,
)

from bot import create_dispatcher
from config import Settings, load_settings
from services.catalog import load_catalog
from services.container import Services, create_services

ROOT = Path(__file__).resolve().parents[2]
BOT_USER = User(id=42, is_bot=True, first_name="Bot", username="test_bot")


class RecordingSession(BaseSession):
    """Answers every call like Telegram would, and keeps the calls for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        return None

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        self.calls.append(method)
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, CopyMessage):
            return MessageId(message_id=next(self._ids))
        if isinstance(
            method, SendMessage | EditMessageText | SendPhoto | SendDocument | SendInvoice
        ):
            chat_id = getattr(method, "chat_id", 0) or 0
            return Message(
                message_id=getattr(method, "message_id", None) or next(self._ids),
                date=dt.datetime.now(),
                chat=Chat(id=int(chat_id), type="private"),
                from_user=BOT_USER,
                text=getattr(method, "text", None),
            )
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    def texts_to(self, chat_id: int) -> list[str]:
        return [
            c.text or ""
            for c in self.calls
            if isinstance(c, SendMessage | EditMessageText) and c.chat_id == chat_id
        ]


class Harness:
    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, session: RecordingSession, services: Services
    ):
        self.dispatcher, self.bot, self.session, self.services = dispatcher, bot, session, services
        self._updates = itertools.count(1)
        self._messages = itertools.count(1)

    async def message(self, user_id: int, text: str, language: str = "ru") -> None:
        user = User(id=user_id, is_bot=False, first_name="Иван", language_code=language)
        entities = None
        if text.startswith("/"):
            from aiogram.types import MessageEntity

            entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
        message = Message(
            message_id=next(self._messages),
            date=dt.datetime.now(),
            chat=Chat(id=user_id, type="private"),
            from_user=user,
            text=text,
            entities=entities,
        )
        await self.dispatcher.feed_update(
            self.bot, Update(update_id=next(self._updates), message=message)
        )
        await self.run_outbox()

    async def press(self, user_id: int, data: str, language: str = "ru") -> None:
        user = User(id=user_id, is_bot=False, first_name="Иван", language_code=language)
        message = Message(
            message_id=1,
            date=dt.datetime.now(),
            chat=Chat(id=user_id, type="private"),
            from_user=BOT_USER,
            text="menu",
        )
        query = CallbackQuery(
            id=str(next(self._updates)),
            from_user=user,
            chat_instance="x",
            message=message,
            data=data,
        )
        await self.dispatcher.feed_update(
            self.bot, Update(update_id=next(self._updates), callback_query=query)
        )
        await self.run_outbox()

    async def run_outbox(self) -> None:
        """What the outbox worker's loop would do right away (the harness starts no loops):
        the notices and Telegram calls that follow a saved change."""
        worker = self.dispatcher["outbox_worker"]
        for item in self.services.payments.outbox.due():
            await worker.run(self.bot, item.id)


@pytest.fixture
async def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setenv("BOT_TOKEN", "42:TEST")
    monkeypatch.setenv("ADMIN_IDS", "1")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings: Settings = load_settings(_env_file=None)
    services = await create_services(settings, load_catalog(ROOT / "catalog.toml"))
    session = RecordingSession()
    bot = Bot("42:TEST", session=session)
    dispatcher = create_dispatcher(settings, services)
    try:
        yield Harness(dispatcher, bot, session, services)
        failures = [
            c.text for c in session.calls if isinstance(c, SendMessage) and "пошло не так" in c.text
        ]
        assert not failures, "a handler failed; see the log"
    finally:
        await services.close()
        # Handler modules hold module-level routers; free them for the next test's Dispatcher.
        for router in dispatcher.sub_routers:
            router._parent_router = None
        dispatcher.sub_routers.clear()
