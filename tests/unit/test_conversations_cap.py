"""Conversations bounded per owner (MAX_CONVERSATIONS), and their files written off the loop."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from config import Settings
from handlers.conversations import _dropped_text
from services.catalog import Catalog
from services.chat.conversations import ConversationService, NewConversation
from services.models import ChatTurn, Conversation, Conversations, UserRecord
from services.operator.stats import DayStats
from services.storage import atomic
from services.storage.atomic import FileWriter, read_json
from services.storage.json_store import JsonStorage
from tests.unit.conftest import RETENTION
from texts import get_texts

OWNER = 7
JPEG = b"\xff\xd8\xff\xe0 a cat"


async def service(
    tmp_path: Path, catalog: Catalog, limit: int
) -> tuple[ConversationService, JsonStorage]:
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    return ConversationService(storage, catalog, max_conversations=limit), storage


async def started_with_memory(
    conversations: ConversationService, question: str, storage: JsonStorage
) -> str:
    """/new, then one question and answer kept in it (with a picture); its id."""
    item = (await conversations.start_new(OWNER, "gpt-5-nano")).conversation
    image = await storage.save_image(OWNER, item.id, JPEG, "image/jpeg")
    turns = [ChatTurn("user", question, (image,)), ChatTurn("assistant", "ok")]
    await conversations.remember(OWNER, item.id, turns, question)
    return item.id


def owner_files(tmp_path: Path) -> list[str]:
    """Every file under the owner's history folder, relative to it."""
    folder = tmp_path / "history" / str(OWNER)
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


async def test_new_past_the_limit_drops_the_least_recently_used_with_memory_and_pictures(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversations, storage = await service(tmp_path, catalog, limit=3)
    clock = itertools.count(1_000, 700)  # each answer later than TOUCH_EVERY apart
    monkeypatch.setattr("services.chat.conversations.time.time", lambda: float(next(clock)))
    first = await started_with_memory(conversations, "про кошек", storage)
    second = await started_with_memory(conversations, "про собак", storage)
    third = await started_with_memory(conversations, "про птиц", storage)
    assert len(owner_files(tmp_path)) == 6  # three memories, three pictures

    made = await conversations.start_new(OWNER, "gpt-5-nano")

    assert [item.title for item in made.dropped] == ["про кошек"]
    listed = await conversations.all(OWNER)
    assert [item.id for item in listed.items] == [second, third, made.conversation.id]
    assert listed.current == made.conversation.id
    assert made.conversation.id not in (first, second, third)  # an id is never reused
    assert not any(name.startswith(f"{first}.") for name in owner_files(tmp_path))
    assert await conversations.history(OWNER, first) == []
    on_disk = read_json(tmp_path / "conversations" / f"{OWNER}.json")
    assert [item["id"] for item in on_disk["items"]] == [second, third, made.conversation.id]


async def test_the_conversation_current_before_new_is_kept_even_if_least_recently_used(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversations, storage = await service(tmp_path, catalog, limit=3)
    clock = itertools.count(1_000, 700)
    monkeypatch.setattr("services.chat.conversations.time.time", lambda: float(next(clock)))
    oldest = await started_with_memory(conversations, "давний", storage)
    await started_with_memory(conversations, "средний", storage)
    await started_with_memory(conversations, "свежий", storage)
    await conversations.switch(OWNER, oldest)  # opened from /chats, not yet asked

    made = await conversations.start_new(OWNER, "gpt-5-nano")

    assert [item.title for item in made.dropped] == ["средний"]
    titles = [item.title for item in (await conversations.all(OWNER)).items]
    assert titles == ["давний", "свежий", ""]


async def test_a_lowered_limit_drops_every_conversation_beyond_it_at_the_next_new(
    tmp_path: Path, catalog: Catalog
) -> None:
    generous, storage = await service(tmp_path, catalog, limit=10)
    for _ in range(6):
        await generous.start_new(OWNER, None)
    strict = ConversationService(storage, catalog, max_conversations=2)

    made = await strict.start_new(OWNER, None)

    assert len(made.dropped) == 5
    assert [item.id for item in (await strict.all(OWNER)).items] == ["6", "7"]
    assert (await strict.start_new(OWNER, None)).dropped[0].id == "6"


async def test_under_the_limit_nothing_is_dropped(tmp_path: Path, catalog: Catalog) -> None:
    conversations, _ = await service(tmp_path, catalog, limit=3)
    assert [len((await conversations.start_new(OWNER, None)).dropped) for _ in range(3)] == [
        0,
        0,
        0,
    ]
    assert len((await conversations.all(OWNER)).items) == 3


async def test_a_group_keeps_at_most_the_limit_of_topic_conversations(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversations, _ = await service(tmp_path, catalog, limit=2)
    clock = itertools.count(1_000, 700)
    monkeypatch.setattr("services.chat.conversations.time.time", lambda: float(next(clock)))
    for topic in ("t1", "t2", "t3"):
        await conversations.topic(-100, topic, None)
    assert [item.id for item in (await conversations.all(-100)).items] == ["t2", "t3"]


def test_max_conversations_setting_defaults_when_empty_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = SecretStr("42:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1")
    monkeypatch.setenv("MAX_CONVERSATIONS", "")
    assert Settings(bot_token=token, _env_file=None).max_conversations == 100
    monkeypatch.setenv("MAX_CONVERSATIONS", "25")
    assert Settings(bot_token=token, _env_file=None).max_conversations == 25
    for wrong in ("1", "0", "many"):
        monkeypatch.setenv("MAX_CONVERSATIONS", wrong)
        with pytest.raises(ValidationError):
            Settings(bot_token=token, _env_file=None)


# Written off the event loop ------------------------------------------------------------
async def test_the_writer_serializes_in_its_worker_thread_not_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: each save of a conversation list was serialized on the event loop."""
    loop_thread = threading.current_thread()
    serialized_in: list[threading.Thread] = []
    real_dump = atomic.dump_json

    def recording_dump(data: Any) -> bytes:
        serialized_in.append(threading.current_thread())
        return real_dump(data)

    monkeypatch.setattr(atomic, "dump_json", recording_dump)
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    item = Conversation("1", "t", 1.0, 1.0)
    await storage.save_conversations(OWNER, Conversations("1", (item,)))
    await storage.save_user(UserRecord(id=OWNER))
    await FileWriter().save(tmp_path / "plain.json", lambda: {"a": 1})

    assert len(serialized_in) == 3
    assert loop_thread not in serialized_in
    assert read_json(tmp_path / "plain.json") == {"a": 1}


def test_a_days_statistics_snapshot_is_a_copy_made_when_saved() -> None:
    """The writer calls its snapshot in a thread: a day's counters are copied when saved,
    so counts made on the loop meanwhile are never read half-way."""
    day = DayStats()
    live = ("messages", "failures", "prompt_tokens", "completion_tokens", "costs", "plan_costs")
    for name in live:
        getattr(day, name)["a"] = 1
    saved = day.to_json()
    for name in live:
        getattr(day, name)["a"] = 2
    assert {name: saved[name] for name in live} == {name: {"a": 1} for name in live}


def test_the_new_answer_names_three_deleted_conversations_and_counts_the_rest() -> None:
    made = NewConversation(
        Conversation("9", "", 9.0, 9.0),
        tuple(Conversation(str(n), f"R&D {n}", float(n), float(n)) for n in range(1, 6)),
    )
    told = _dropped_text(made, 4, get_texts("ru"))
    assert told is not None
    assert "не больше 4 диалогов, поэтому 5 самых давних удалены" in told
    assert told.endswith("«R&amp;D 1», «R&amp;D 2», «R&amp;D 3» и другие.")  # HTML, once
    assert _dropped_text(NewConversation(made.conversation), 4, get_texts("ru")) is None
