"""Fixtures every layer shares: the local stand-ins, each started on a free port.

`telegram` (the Bot API emulator), `llm` (the OpenAI-compatible server) and `yoomoney`
(the YooMoney API). Factories for users, messages and updates are in tests/factories.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram
from tests.stubs.yoomoney_server import FakeYooMoney

TOKEN = "123456:TEST-e2e-token"
TEST_KEY = "sk-test"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI(TEST_KEY)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def yoomoney() -> AsyncIterator[FakeYooMoney]:
    server = FakeYooMoney()
    await server.start()
    yield server
    await server.stop()
