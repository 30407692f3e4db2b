"""runtime/webhook.py's request handler with a real Dispatcher behind an aiohttp test
server: the secret compared in constant time, when Telegram gets its answer (the turn
passed, or the end), 503 while not taking updates, a shutdown's cut answered 503 with the
update's claim released, a handler's failure answered 500."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.middlewares import ArrivalOrder, Turn
from edge.update_claims import Claim, MemoryClaims, UpdateDedupe
from runtime.webhook import SECRET_HEADER, WebhookHandler
from tests import factories
from tests.integration.conftest import RecordingSession

SECRET = "integration_secret-42"
PATH = "/hook"


@dataclass
class Script:
    """What the one message handler does: pass its turn, then wait, or fail."""

    pass_turn: bool = False
    gate: asyncio.Event | None = None
    fail: bool = False
    calls: int = 0
    ended: int = 0
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def served() -> AsyncIterator[
    tuple[TestClient[Any, Any], WebhookHandler, Script, MemoryClaims]
]:
    dispatcher = Dispatcher()
    claims = MemoryClaims()
    dispatcher.update.outer_middleware(UpdateDedupe(claims, poll=0.01))
    dispatcher.update.outer_middleware(ArrivalOrder())
    script = Script()

    async def handle(message: Message, turn: Turn) -> None:
        script.calls += 1
        script.seen.append(message.text or "")
        if script.pass_turn:
            turn.passed()
        if script.gate is not None:
            await script.gate.wait()
        if script.fail:
            raise RuntimeError("broken")
        script.ended += 1

    dispatcher.message.register(handle)
    bot = Bot("42:TEST", session=RecordingSession())
    handler = WebhookHandler(dispatcher, bot, SECRET, ack_timeout=5)
    app = web.Application()
    handler.register(app, path=PATH)
    handler.accepting = True
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, handler, script, claims
    await client.close()


def body(update_id: int, text: str = "hi") -> dict[str, Any]:
    update = factories.update(update_id, message=factories.message(7, text, message_id=update_id))
    return update.model_dump(mode="json", exclude_none=True, by_alias=True)


async def post(client: TestClient[Any, Any], update_id: int, secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with client.post(PATH, json=body(update_id), headers=headers) as response:
        return response.status


async def test_the_secret_is_compared_in_constant_time(
    served: tuple[TestClient[Any, Any], WebhookHandler, Script, MemoryClaims],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _, script, _ = served
    compared: list[tuple[str, str]] = []
    real = secrets.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("aiogram.webhook.aiohttp_server.secrets.compare_digest", spy)
    assert await post(client, 1, "wrong") == 401
    assert await post(client, 1, None) == 401
    assert await post(client, 1) == 200
    assert compared == [("wrong", SECRET), ("", SECRET), (SECRET, SECRET)]
    assert script.calls == 1


async def test_telegram_is_answered_once_the_turn_passed_while_handling_goes_on(
    served: tuple[TestClient[Any, Any], WebhookHandler, Script, MemoryClaims],
) -> None:
    client, _, script, _ = served
    script.pass_turn, script.gate = True, asyncio.Event()
    assert await asyncio.wait_for(post(client, 2), 2) == 200
    assert (script.calls, script.ended) == (1, 0)  # still handling
    script.gate.set()
    await asyncio.sleep(0.05)
    assert script.ended == 1


async def test_without_a_turn_passed_the_answer_waits_for_the_end(
    served: tuple[TestClient[Any, Any], WebhookHandler, Script, MemoryClaims],
) -> None:
    client, _, script, _ = served
    script.gate = asyncio.Event()
    request = asyncio.create_task(post(client, 3))
    await asyncio.sleep(0.2)
    assert not request.done()
    script.gate.set()
    assert await request == 200


async def test_not_taking_updates_is_503_but_a_wrong_secret_still_401(
    served: tuple[TestClient[Any, Any], WebhookHandler, Script, MemoryClaims],
) -> None:
    client, handler, script, _ = served
    handler.accepting = False
    assert await post(client, 4, "wrong") == 401
    assert await post(client, 4) == 503
    assert script.calls == 0


async def test_a_shutdown_cuts_what_is_unanswered_with_503_and_releases_its_claim(
    served: tuple[TestClient[Any, Any], WebhookHandler, Script, MemoryClaims],
) -> None:
    client, handler, script, claims = served
    script.gate = asyncio.Event()  # never set: the handler would run on forever
    request = asyncio.create_task(post(client, 5))
    await asyncio.sleep(0.1)
    assert await handler.drain(0.2) == 1
    assert await request == 503
    assert await claims.take(5) is Claim.OWN  # released: Telegram's copy is handled


async def test_a_failed_handler_is_500_and_its_copy_is_handled(
    served: tuple[TestClient[Any, Any], WebhookHandler, Script, MemoryClaims],
) -> None:
    client, _, script, _ = served
    script.fail = True
    assert await post(client, 6) == 500
    script.fail = False
    assert await post(client, 6) == 200
    assert await post(client, 6) == 200  # a third copy: dropped
    assert (script.calls, script.ended) == (2, 1)
