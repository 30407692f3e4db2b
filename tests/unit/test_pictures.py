"""Pictures in conversations: kept once, sent to models that see them (the newest few),
a note for the rest; refused for blind models; counted in limits; gone with the
conversation."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import Catalog, load_catalog
from services.chat.inbox import Photo, Request
from services.chat.llm import request_body
from services.chat.pictures import IMAGE_CHARS, IMAGE_NOTE, MAX_PROMPT_IMAGES
from services.chat.refusals import ChatRefusalError
from services.models import ChatTurn, UserRecord
from tests.unit.conftest import ROOT
from tests.unit.test_chat import collect, make, nano_user
from tests.unit.test_quota import free_chars_catalog

JPEG = b"\xff\xd8\xff\xe0 a cat"
PNG = b"\x89PNG\r\n\x1a\n a dog"


def media_files(tmp_path: Path, owner: int) -> list[Path]:
    return sorted((tmp_path / "history" / str(owner)).glob("*.media/*"))


def without_vision(catalog_text: str, key: str) -> str:
    """The catalog's text with model `key` no longer seeing pictures."""
    start = catalog_text.index(f'key = "{key}"\n')
    end = catalog_text.index("[[", start)
    block = catalog_text[start:end]
    assert "vision = true\n" in block
    return catalog_text[:start] + block.replace("vision = true\n", "") + catalog_text[end:]


async def test_a_photo_is_kept_and_sent_with_its_question_and_the_follow_up(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, _, _ = await make(tmp_path, catalog)
    user = nano_user()
    assert chat.current_model(user).vision
    await collect(chat, user, Request("что на фото?", (Photo(JPEG),)))
    [image_id] = llm.prompts[-1][-1].images
    assert llm.images[-1] == {image_id: "data:image/jpeg;base64,/9j/4CBhIGNhdA=="}
    [kept] = media_files(tmp_path, user.id)
    assert kept.name == image_id and kept.read_bytes() == JPEG

    await collect(chat, user, "а какого он цвета?")  # the picture is still in the memory
    assert list(llm.images[-1]) == [image_id]
    body = request_body(chat.current_model(user), llm.prompts[-1], llm.images[-1])
    messages = body["messages"]
    assert isinstance(messages, list)
    first_question = next(m for m in messages if m["role"] == "user")
    assert first_question["content"] == [
        {"type": "text", "text": "что на фото?"},
        {"type": "image_url", "image_url": {"url": llm.images[-1][image_id]}},
    ]


async def test_only_the_newest_pictures_are_sent_the_rest_become_a_note(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, _, _ = await make(tmp_path, catalog)
    user = nano_user()
    for number in range(MAX_PROMPT_IMAGES + 2):
        await collect(chat, user, Request(f"фото {number}", (Photo(PNG, "image/png"),)))
    turns = llm.prompts[-1]
    with_pictures = [turn for turn in turns if turn.images]
    assert len(with_pictures) == MAX_PROMPT_IMAGES + 2
    sent = llm.images[-1]
    assert (
        list(sent)
        == [image for turn in with_pictures[-MAX_PROMPT_IMAGES:] for image in turn.images][::-1]
    )
    body = request_body(chat.current_model(user), turns, sent)
    messages = body["messages"]
    assert isinstance(messages, list)
    oldest = next(m for m in messages if m["role"] == "user")
    assert oldest["content"] == f"{IMAGE_NOTE} фото 0"  # not sent: a note
    assert all(url.startswith("data:image/png;base64,") for url in sent.values())


async def test_a_blind_model_refuses_pictures_and_gets_notes(
    tmp_path: Path, catalog: Catalog
) -> None:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    text = without_vision(text, "gpt-4o-mini")
    (tmp_path / "catalog.toml").write_text(text, encoding="utf-8")
    catalog = load_catalog(tmp_path / "catalog.toml")  # GPT-4o Mini without vision here
    chat, llm, subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 30, source="test")
    await collect(chat, nano_user(), Request("", (Photo(JPEG),)))  # no caption: fine
    blind = UserRecord(id=1, model_key="gpt-4o-mini")
    assert not chat.current_model(blind).vision
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, blind, Request("а это?", (Photo(JPEG),)))
    assert refusal.value.reason == "blind"
    with pytest.raises(ChatRefusalError):
        chat.gate.check_ready(blind, pictures=1)  # before any download
    assert len(media_files(tmp_path, 1)) == 1  # the refused picture was not kept

    await collect(chat, blind, "опиши прошлое фото словами")
    assert llm.images[-1] == {}
    body = request_body(chat.current_model(blind), llm.prompts[-1], llm.images[-1])
    messages = body["messages"]
    assert isinstance(messages, list)
    assert next(m["content"] for m in messages if m["role"] == "user") == IMAGE_NOTE


async def test_retry_sends_the_same_picture_without_keeping_it_twice(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, _, _ = await make(tmp_path, catalog)
    user = nano_user()
    await collect(chat, user, Request("что это?", (Photo(JPEG),)))
    [image_id] = llm.images[-1]
    again = await chat.take_retry(user.id)
    assert again == Request("что это?", kept_images=(image_id,))
    await collect(chat, user, again)
    assert list(llm.images[-1]) == [image_id]
    history = await chat.conversations.history(user.id, "1")
    assert [turn.images for turn in history if turn.role == "user"] == [(image_id,)]
    assert len(media_files(tmp_path, user.id)) == 1


async def test_a_picture_counts_in_the_free_characters_of_the_day(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, _, _, _ = await make(tmp_path, catalog)
    user = nano_user()
    await collect(chat, user, Request("кто это?", (Photo(JPEG),)))
    requests, chars = chat._stats.used_today(user.id, "gpt-5-nano")
    assert (requests, chars) == (1, len("кто это?") + IMAGE_CHARS)


async def test_pictures_go_with_their_conversation_and_with_forget(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, _, _, storage = await make(tmp_path, catalog)
    user = nano_user()
    await collect(chat, user, Request("первый", (Photo(JPEG),)))
    second = (await chat.new_conversation(user)).conversation
    await collect(chat, user, Request("второй", (Photo(PNG, "image/png"),)))
    assert len(media_files(tmp_path, user.id)) == 2
    await chat.conversations.delete(user.id, "1")
    [left] = media_files(tmp_path, user.id)
    assert left.parent.name == f"{second.id}.media"
    assert await storage.load_image(user.id, second.id, f"../{second.id}.json") is None
    await chat.forget(user.id)
    assert media_files(tmp_path, user.id) == []


async def test_a_memory_file_without_pictures_keeps_its_old_format(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, _, _, _ = await make(tmp_path, catalog)
    user = nano_user()
    await collect(chat, user, "привет")
    raw = (tmp_path / "history" / "1" / "1.json").read_text(encoding="utf-8")
    assert "images" not in raw
    history = await chat.conversations.history(user.id, "1")
    assert history[0] == ChatTurn("user", "привет")


async def test_a_picture_refused_by_the_quota_is_not_kept(tmp_path: Path) -> None:
    chat, llm, _, _ = await make(tmp_path, free_chars_catalog())
    user = nano_user()
    model = chat.current_model(user)
    assert model.free_daily_chars is not None
    chat._stats.count_request(user.id, model.key, model.free_daily_chars - IMAGE_CHARS)
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, user, Request("а это?", (Photo(JPEG),)))
    assert refusal.value.reason == "quota_free_chars"
    assert media_files(tmp_path, user.id) == [] and llm.prompts == []
