"""The production Dispatcher fed real Update objects, with a session that records calls.

The session answers like Telegram; `session.fail(...)` makes chosen calls answer with
Telegram's errors (429 with retry_after, 400 "message is not modified", 403 blocked), so
the error branches run in milliseconds, through aiogram's own error mapping.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
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
from aiogram.types import Chat, Message, MessageId, Update

from bot import create_dispatcher
from config import Settings, load_settings
from services.catalog import load_catalog
from services.container import Services, create_services
from tests import factories
from tests.stubs.telegram_server import BLOCKED, NOT_MODIFIED

ROOT = Path(__file__).resolve().parents[2]
BOT_USER = factories.BOT


@dataclass(frozen=True)
class TelegramError:
    """An error answer as the Bot API sends it."""

    code: int
    description: str
    retry_after: int | None = None

    def body(self) -> str:
        answer: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            answer["parameters"] = {"retry_after": self.retry_after}
        return json.dumps(answer)


def flood(retry_after: int = 1) -> TelegramError:
    """429: too many requests, try again in `retry_after` seconds."""
    return TelegramError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


MESSAGE_NOT_MODIFIED = TelegramError(400, NOT_MODIFIED)
BOT_BLOCKED = TelegramError(403, BLOCKED)


@dataclass
class _Failure:
    method: type[TelegramMethod[Any]]
    error: TelegramError
    times: int | None  # None: every matching call
    where: Callable[[Any], bool] | None


class RecordingSession(BaseSession):
    """Answers every call like Telegram would, and keeps the calls for assertions.

    `calls` holds what Telegram accepted; `refused` what it answered with an error.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.refused: list[TelegramMethod[Any]] = []
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1000)

    def fail(
        self,
        method: type[TelegramMethod[Any]],
        error: TelegramError,
        *,
        times: int | None = 1,
        where: Callable[[Any], bool] | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (those `where` accepts) with `error`;
        `times=None`: every such call from now on."""
        self._failures.append(_Failure(method, error, times, where))

    def _failure_for(self, method: TelegramMethod[Any]) -> TelegramError | None:
        for failure in self._failures:
            if isinstance(method, failure.method) and (
                failure.where is None or failure.where(method)
            ):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times == 0:
                        self._failures.remove(failure)
                return failure.error
        return None

    async def close(self) -> None:
        return None

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        error = self._failure_for(method)
        if error is not None:
            self.refused.append(method)
            self.check_response(bot, method, error.code, error.body())  # raises, as aiogram does
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
        """`user_id` writes `text` in their private chat."""
        message = factories.message(
            user_id, text, language=language, message_id=next(self._messages)
        )
        await self.feed(factories.update(next(self._updates), message=message))

    async def press(self, user_id: int, data: str, language: str = "ru") -> None:
        """`user_id` presses a button with `data` under a bot message in their chat."""
        query = factories.callback(
            user_id, data, language=language, query_id=str(next(self._updates))
        )
        await self.feed(factories.update(next(self._updates), callback_query=query))

    async def feed(self, update: Update) -> None:
        """One update through the production Dispatcher, the answers it started (written
        in tasks of their own), then the outbox's due work."""
        await self.dispatcher.feed_update(self.bot, update)
        await self.dispatcher["answerer"].workers.idle()
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
