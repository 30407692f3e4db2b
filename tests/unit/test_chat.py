"""ChatService: memory bounds, refusals before any model call, cancel, concurrency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.catalog import Catalog, Model
from services.chat.chat import ChatService
from services.chat.conversations import ConversationService
from services.chat.inbox import Offer, Request
from services.chat.llm import (
    LLMGateway,
    ProviderConfig,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from services.chat.refusals import ChatRefusalError, Refusal
from services.container import shared_chat_state
from services.limits.access import AccessService
from services.limits.quota import QuotaService
from services.models import ChatTurn, Usage, UserRecord
from services.money.subscriptions import SubscriptionService
from services.operator.alerts import AlertService
from services.operator.stats import StatsService
from services.shared.quota import RedisCounters
from services.shared.state import SharedState
from services.storage.json_store import JsonStorage
from tests.unit.conftest import RETENTION


class ScriptedLLM(LLMGateway):
    """Answers "re: <question>" after `delay`, or fails with `fail`."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog, {"openai": ProviderConfig("http://unused", "k")}, 5)
        self.prompts: list[list[ChatTurn]] = []
        self.images: list[dict[str, str]] = []  # data URLs sent with each prompt, by id
        self.delay = 0.0
        self.fail: str | None = None

    async def stream(
        self,
        model: Model,
        history: list[ChatTurn],
        images: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        self.prompts.append(history)
        self.images.append(dict(images or {}))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ProviderError(self.fail)
        yield TextDelta("re: ")
        yield TextDelta(history[-1].content)
        yield StreamEnd(Usage(10, 5))


async def make(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None = None, **kwargs: Any
) -> tuple[ChatService, ScriptedLLM, SubscriptionService, JsonStorage]:
    """A chat service on its own JSON store; with `shared`, what processes share in Redis
    (another process: another `make` on the same prefix and its own folder)."""
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    subs = SubscriptionService(storage, catalog)
    llm = ScriptedLLM(catalog)
    stats = StatsService(storage, ZoneInfo("Europe/Moscow"))
    conversations = ConversationService(storage, catalog)
    access = AccessService(catalog, subs)
    counters = RedisCounters(shared) if shared is not None else None
    quota = QuotaService(catalog, access, stats, ZoneInfo("Europe/Moscow"), shared=counters)
    if shared is not None:
        kwargs |= shared_chat_state(shared)
    chat = ChatService(
        catalog,
        llm,
        storage,
        access,
        AlertService(),
        stats,
        conversations,
        quota,
        **kwargs,
    )
    return chat, llm, subs, storage


def asked(llm: ScriptedLLM) -> list[str]:
    """The last prompt's conversation turns (the mode's system message left out)."""
    return [turn.content for turn in llm.prompts[-1] if turn.role != "system"]


def nano_user(user_id: int = 1) -> UserRecord:
    return UserRecord(id=user_id, model_key="gpt-5-nano")


@dataclass
class Recorded:
    """An answer sink that keeps what it is given."""

    texts: list[str] = field(default_factory=list)
    images: list[tuple[bytes, str]] = field(default_factory=list)
    sounds: list[tuple[bytes, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    async def add_text(self, delta: str) -> None:
        self.texts.append(delta)

    async def add_image(self, data: bytes, mime_type: str) -> None:
        self.images.append((data, mime_type))

    async def add_audio(self, data: bytes, mime_type: str) -> None:
        self.sounds.append((data, mime_type))


async def collect(chat: ChatService, user: UserRecord, text: Request | str) -> str:
    sink = Recorded()
    result = await chat.answer(user, text, sink)
    assert result.text == sink.text
    return result.text


async def test_memory_is_kept_and_bounded(tmp_path: Path, catalog: Catalog) -> None:
    chat, llm, *_ = await make(tmp_path, catalog, history_max_messages=4)
    user = nano_user()
    for question in ("one", "two", "three"):
        assert await collect(chat, user, question) == f"re: {question}"
    assert asked(llm) == ["two", "re: two", "three"]
    await chat.new_conversation(user)
    await collect(chat, user, "fresh")
    assert asked(llm) == ["fresh"]


async def test_memory_fits_the_model_context(tmp_path: Path, catalog: Catalog) -> None:
    chat, llm, subs, storage = await make(tmp_path, catalog, history_max_messages=100)
    user = UserRecord(id=2, model_key="gpt-4o-mini")  # 128k tokens of context
    model = catalog.models_by_key["gpt-4o-mini"]
    budget_chars = (model.context_tokens - model.max_output_tokens) * 2.5
    storage_history = [ChatTurn("user", "x" * 9000), ChatTurn("assistant", "y" * 9000)] * 25
    first = await chat.conversations.current(user.id, user.model_key)
    await storage.save_history(user.id, first.id, storage_history)
    await subs.grant(user.id, "premium1", 30, "admin:test")
    await collect(chat, user, "question")
    prompt = [turn for turn in llm.prompts[-1] if turn.role != "system"]
    assert sum(len(t.content) for t in prompt) <= budget_chars
    assert prompt[0].role == "user" and prompt[-1].content == "question"
    assert len(prompt) < len(storage_history)  # the oldest turns were left out


async def test_refusals_happen_before_any_model_call(tmp_path: Path, catalog: Catalog) -> None:
    chat, llm, *_ = await make(tmp_path, catalog)
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, nano_user(), "я" * 1001)
    assert refusal.value.reason == "too_long" and refusal.value.limit == 1000
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, UserRecord(id=1, model_key="grok-3"), "hi")
    assert refusal.value.reason == "locked"
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, UserRecord(id=1, model_key="gpt-4.1-nano"), "hi")
    assert refusal.value.reason == "unavailable"  # its provider has no key here
    assert llm.prompts == []


async def test_cancel_stops_the_answer_and_drops_the_queue(
    tmp_path: Path, catalog: Catalog, shared: SharedState | None
) -> None:
    chat, llm, *_ = await make(tmp_path, catalog, shared)
    llm.delay = 10
    user = nano_user()
    await chat.inbox.offer(user.id, Request("slow"))
    task = asyncio.create_task(collect(chat, user, "slow"))
    await asyncio.sleep(0.05)
    assert await chat.inbox.offer(user.id, Request("again")) is Offer.QUEUED
    assert await chat.cancel(user.id)
    assert await chat.inbox.next_request(user.id) is None  # "again" was dropped
    assert await task == ""
    assert not await chat.cancel(user.id)
    llm.delay = 0
    assert await collect(chat, user, "after") == "re: after"


async def test_provider_error_is_a_result_not_an_exception(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, *_ = await make(tmp_path, catalog)
    llm.fail = "timeout"
    result = await chat.answer(nano_user(), "hi", Recorded())
    assert result.error == "timeout" and result.text == ""


async def test_200_users_with_a_1_second_model_take_about_1_second(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, *_ = await make(tmp_path, catalog)
    llm.delay = 1.0
    started = time.monotonic()
    answers = await asyncio.gather(*(collect(chat, nano_user(u), f"q{u}") for u in range(200)))
    elapsed = time.monotonic() - started
    assert answers == [f"re: q{u}" for u in range(200)]
    assert elapsed < 3.0  # no lock between users: the calls overlap


def test_every_refusal_has_a_text_in_both_languages() -> None:
    """Refusal reasons are one enum: each has its text (and speech's own wording of a
    transcript too long has its own), in both languages."""
    # Imported here: the edge renders refusals; the other tests need no handlers.
    from edge.answering import REFUSAL_TEXTS
    from handlers.media import TRANSCRIPT_REFUSALS
    from texts import CATALOGS

    assert set(REFUSAL_TEXTS) == set(Refusal)
    for language, catalog in CATALOGS.items():
        keys = {*REFUSAL_TEXTS.values(), *TRANSCRIPT_REFUSALS.values()}
        assert keys <= catalog.keys(), (language, keys - catalog.keys())
