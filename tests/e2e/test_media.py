"""Photos, voice messages and files through the real bot: seen, heard or read, then
asked like text; refusals before anything is downloaded or paid for."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from tests.e2e.conftest import ROOT, StartBot
from tests.e2e.test_fair_use import small_quota_catalog
from tests.stubs.openai_server import FakeOpenAI, image_urls, ogg_opus
from tests.stubs.telegram_server import FakeTelegram
from tests.unit.test_attachments import text_pdf
from tests.unit.test_pictures import without_vision

USER = 1301
MIB = 2**20


def speech(text: str, seconds: float = 3) -> bytes:
    """A voice note of `seconds` (OGG/Opus) that the model stand-in "hears" as `text`."""
    return ogg_opus(text, seconds)


async def test_a_voice_message_is_heard_shown_and_answered_in_order(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    telegram.user_voice(USER, speech("Сколько будет два плюс два?", 4), duration=4)
    heard = await telegram.wait_for_message(USER, "🎤")
    assert heard.text == "🎤 Сколько будет два плюс два?"
    await telegram.wait_for_message(USER, "Echo: Сколько будет два плюс два?")
    [sent] = llm.transcriptions
    assert (sent["model"], sent["file_name"]) == ("gpt-4o-mini-transcribe", "voice.ogg")
    assert sent["response_format"] == "json"

    # A voice message and a typed one right after it reach the model in that order,
    # though the voice message takes a download and a transcription first.
    before = len(llm.requests)
    telegram.user_voice(USER, speech("первый вопрос голосом", 2), duration=2)
    telegram.user_message(USER, "второй вопрос текстом")
    await telegram.wait_for_message(USER, "второй вопрос текстом", after=heard.message_id)
    asked = "\n".join(llm.user_messages()[before:])
    assert asked.index("первый вопрос голосом") < asked.index("второй вопрос текстом")
    telegram.user_message(USER, "/profile")  # 4 + 2 seconds of today's free 600
    profile = await telegram.wait_for_message(USER, "Профиль", after=telegram.last_id(USER))
    assert "🎤 Голосовые: осталось 9,9 минуты, в день — 10 минут" in profile.text


async def test_voice_refusals_before_paying_and_failures(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_bot({"CATALOG_PATH": str(small_quota_catalog(tmp_path))})
    telegram.user_voice(USER, speech("очень длинная речь", 301), duration=301)
    refusal = await telegram.wait_for_message(USER, "слишком длинное")
    assert "предел — 5 минут" in refusal.text
    assert llm.transcriptions == [] and telegram.file_requests == 0  # nothing downloaded
    # Without a plan: longer than a free request can hold (1000 characters, ~66 s of
    # speech) is refused before the transcription would be paid for.
    telegram.user_voice(USER, speech("длинный вопрос", 70), duration=70)
    free = await telegram.wait_for_message(USER, "Без подписки")
    assert "предел голосового — 1,1 минуты" in free.text and any(
        "Тарифы" in b["text"] for b in free.buttons()
    )
    assert llm.transcriptions == [] and telegram.file_requests == 0

    telegram.user_voice(USER, speech("", 2), duration=2)  # silence
    await telegram.wait_for_message(USER, "Не удалось разобрать речь")
    for _ in range(2):  # the SDK retries once
        llm.fail_next(503, "The server is overloaded")
    telegram.user_voice(USER, speech("вопрос", 2), duration=2)
    failed = await telegram.wait_for_message(USER, after=telegram.last_id(USER))
    assert "распознавания временно недоступен" in failed.text and "503" not in failed.text
    assert len(llm.transcriptions) == 3 and llm.requests == []

    # The free requests of the day run out: the next voice message is refused as a typed
    # one would be, before its transcription is paid for.
    for number in range(3):
        telegram.user_message(USER, f"вопрос {number}")
        await telegram.wait_for_message(USER, f"Echo: вопрос {number}")
    telegram.user_voice(USER, speech("четвёртый", 2), duration=2)
    quota = await telegram.wait_for_message(USER, "закончились")
    assert "3 запроса" in quota.text
    assert len(llm.transcriptions) == 3 and len(llm.requests) == 3


async def test_voice_notes_that_lie_about_their_length_are_bounded_by_their_size(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    """The audit's reproduction: five 8 MiB voice notes declaring 0 seconds from a free
    user. Their size says they are far longer (Telegram's own are 2-4 kB a second): each
    is refused before download, as a voice message declaring that length would be."""
    await start_bot()
    lie = ogg_opus("двадцать три минуты речи", 1400, size=8 * MIB)  # 48 kbit/s
    for _ in range(5):
        telegram.user_voice(USER, lie, duration=0)

    def refusals() -> list[str]:
        return [m.text for m in telegram.messages(USER) if "слишком длинное" in m.text]

    await telegram.wait_for(lambda: len(refusals()) == 5)
    assert "предел — 5 минут" in refusals()[0]
    assert telegram.file_requests == 0 and llm.transcriptions == [] and llm.requests == []
    assert not any("двадцать три" in m.text for m in telegram.messages(USER))


async def test_a_voice_note_of_unknown_size_is_read_no_further_than_its_bound(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    """Telegram's file_size is optional: without it, the download itself stops at what
    the longest allowed voice note can take, and the refusal is the same."""
    await start_bot()
    lie = ogg_opus("двадцать три минуты речи", 1400, size=8 * MIB)
    telegram.user_voice(USER, lie, duration=0, size_known=False)
    refusal = await telegram.wait_for_message(USER, "Без подписки")
    assert (
        "предел голосового — 1,1 минуты" in refusal.text
    )  # a free request's hold: 1000 characters
    assert llm.transcriptions == [] and llm.requests == []
    assert not any("двадцать три" in m.text for m in telegram.messages(USER))


async def test_voice_is_counted_by_what_the_file_says_when_it_says_more(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    """A small file declaring 2 s whose own header says 40 s counts 40 s of the day; one
    whose header says more than a free request holds is refused before it is paid."""
    await start_bot()
    telegram.user_voice(USER, speech("короткий вопрос", 40), duration=2)
    answer = await telegram.wait_for_message(USER, "Echo: короткий вопрос")
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Профиль", after=answer.message_id)
    assert "🎤 Голосовые: осталось 9,3 минуты, в день — 10 минут" in profile.text

    telegram.user_voice(USER, speech("длинный вопрос", 80), duration=2)
    refusal = await telegram.wait_for_message(USER, "Без подписки", after=profile.message_id)
    assert "предел голосового — 1,1 минуты" in refusal.text
    assert len(llm.transcriptions) == 1 and len(llm.requests) == 1
    assert not any("длинный вопрос" in m.text for m in telegram.messages(USER))


async def test_a_transcript_longer_than_the_request_holds_is_neither_shown_nor_asked(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    """A fast speaker: 10 s whose transcript is 1500 characters, beyond a free request's
    1000. The transcription is paid and counted; the transcript is not shown back and no
    model is asked."""
    await start_bot()
    words = "быстро " * 215  # 1505 characters
    telegram.user_voice(USER, speech(words, 10), duration=10)
    refusal = await telegram.wait_for_message(USER, "🎤")
    assert "1000 символов" in refusal.text and "быстро" not in refusal.text
    assert any("Тарифы" in b["text"] for b in refusal.buttons())
    await telegram.wait_idle(USER)
    assert len(llm.transcriptions) == 1 and llm.requests == []
    assert not any("быстро" in m.text for m in telegram.messages(USER))
    telegram.user_message(USER, "/profile")
    profile = await telegram.wait_for_message(USER, "Профиль", after=refusal.message_id)
    assert "🎤 Голосовые: осталось 9,8 минуты, в день — 10 минут" in profile.text


async def test_without_the_transcription_key_voice_is_declined(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot({"OPENAI_API_KEY": None})
    telegram.user_voice(USER, speech("привет", 2), duration=2, language_code="en")
    declined = await telegram.wait_for_message(USER, "Voice messages are not recognised")
    assert "type your question" in declined.text
    assert llm.transcriptions == [] and telegram.file_requests == 0


async def test_files_are_read_as_the_question(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    report = "Выручка за ноябрь: 120 000 руб.\nРасходы: 45 000 руб."
    telegram.user_document(
        USER,
        "отчёт.txt",
        data=report.encode("cp1251"),  # as Windows Notepad saves Russian text
        mime_type="text/plain",
        caption="Посчитай маржу",
    )
    answer = await telegram.wait_for_message(USER, "Echo: Посчитай маржу")
    assert llm.user_messages()[-1] == f"Посчитай маржу\n\n📎 отчёт.txt\n```\n{report}\n```"
    assert "Выручка за ноябрь" in answer.text

    pdf = text_pdf(["Quarterly report", "Revenue grew by 12 percent"])
    telegram.user_document(USER, "q3.pdf", data=pdf, mime_type="application/pdf")
    await telegram.wait_for_message(USER, "Revenue grew by 12 percent", after=answer.message_id)
    asked = len(llm.requests)
    downloads = telegram.file_requests

    telegram.user_document(
        USER, "setup.exe", data=b"MZ\x90\x00", mime_type="application/x-msdownload"
    )
    await telegram.wait_for_message(USER, "Этот файл не прочитать")
    telegram.user_document(
        USER, "dump.txt", data=b"x", mime_type="text/plain", file_size=50 * 1024 * 1024
    )
    big = await telegram.wait_for_message(USER, "слишком большой")
    assert "до 10 МБ" in big.text
    assert telegram.file_requests == downloads  # refused before any download
    telegram.user_document(USER, "scan.pdf", data=b"%PDF-1.4 broken", mime_type="application/pdf")
    await telegram.wait_for_message(USER, "повреждён")
    assert len(llm.requests) == asked  # no model call for any of them


def write_user(data_dir: Path, user_id: int, model_key: str) -> None:
    """A user registered earlier whose current model is `model_key` (as the bot writes)."""
    folder = data_dir / "users"
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "id": user_id,
        "first_name": "Test",
        "username": None,
        "language": "ru",
        "model_key": model_key,
        "created_at": time.time(),
        "blocked": False,
    }
    (folder / f"{user_id}.json").write_text(json.dumps(record))


async def test_a_file_is_refused_before_download_when_no_request_is_left_or_the_model_is_locked(
    telegram: FakeTelegram,
    llm: FakeOpenAI,
    start_bot: StartBot,
    tmp_path: Path,
    data_dir: Path,
) -> None:
    """Like voice and photos: today's requests spent, or a model the user's plans do not
    open, is said before the file is downloaded or read."""
    write_user(data_dir, USER + 1, "gpt-4o-mini")  # a paid model, no plan: locked
    await start_bot({"CATALOG_PATH": str(small_quota_catalog(tmp_path))})
    telegram.user_document(USER + 1, "notes.txt", data=b"some notes", mime_type="text/plain")
    locked = await telegram.wait_for_message(USER + 1, "доступна по подписке")
    assert "GPT-4o Mini" in locked.text
    assert telegram.file_requests == 0 and llm.requests == []

    for number in range(3):  # the 3 free requests of the day
        telegram.user_message(USER, f"вопрос {number}")
        await telegram.wait_for_message(USER, f"Echo: вопрос {number}")
    telegram.user_document(USER, "notes.txt", data=b"some notes", mime_type="text/plain")
    quota = await telegram.wait_for_message(USER, "закончились")
    assert "3 запроса" in quota.text
    assert telegram.file_requests == 0 and len(llm.requests) == 3


def image_parts(request: dict[str, object]) -> list[str]:
    """The image URLs of the last user message of a model request."""
    messages = request["messages"]
    assert isinstance(messages, list)
    last = [m for m in messages if m["role"] == "user"][-1]
    return image_urls(last["content"])


async def test_a_photo_goes_to_a_model_that_sees_it_with_its_caption(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    photo = b"\xff\xd8\xff\xe0 a cat on a sofa"
    telegram.user_photo(USER, caption="Что на фото?", data=photo)
    answer = await telegram.wait_for_message(USER, "Echo: Что на фото?")
    [url] = image_parts(llm.requests[-1])
    assert url == "data:image/jpeg;base64," + base64.b64encode(photo).decode()

    # A follow-up question: the picture is still in the conversation's memory.
    telegram.user_message(USER, "А какого цвета диван?")
    await telegram.wait_for_message(USER, "Echo: А какого цвета диван?", after=answer.message_id)
    messages = llm.requests[-1]["messages"]
    assert any(image_urls(m["content"]) == [url] for m in messages)

    # An image sent as a file is a picture too, with its own type.
    png = b"\x89PNG\r\n\x1a\n a chart"
    telegram.user_document(USER, "chart.png", data=png, mime_type="image/png", caption="Что тут?")
    await telegram.wait_for_message(USER, "Echo: Что тут?")
    assert image_parts(llm.requests[-1]) == [
        "data:image/png;base64," + base64.b64encode(png).decode()
    ]


async def test_an_album_is_one_question_with_all_its_photos(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    photos = [b"\xff\xd8\xff\xe0 one", b"\xff\xd8\xff\xe0 two", b"\xff\xd8\xff\xe0 three"]
    telegram.user_photo(USER, caption="Сравни", data=photos[0], media_group_id="777")
    for photo in photos[1:]:  # as Telegram sends an album: one update per photo
        telegram.user_photo(USER, data=photo, media_group_id="777")
    await telegram.wait_for_message(USER, "Echo: Сравни")
    await telegram.wait_idle(USER)
    [request] = llm.requests
    assert image_parts(request) == [
        "data:image/jpeg;base64," + base64.b64encode(photo).decode() for photo in photos
    ]


async def test_a_photo_to_a_model_that_does_not_see_is_declined_before_download(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, tmp_path: Path
) -> None:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    blind = without_vision(text, "gpt-4.1-nano")
    assert blind != text
    (tmp_path / "catalog.toml").write_text(blind, encoding="utf-8")
    await start_bot({"CATALOG_PATH": str(tmp_path / "catalog.toml")})
    telegram.user_photo(USER, caption="Что на фото?")  # the default model: GPT-4.1 Nano
    declined = await telegram.wait_for_message(USER, "не видит изображения")
    assert "GPT-5 Nano" in declined.text and "/model" in declined.text
    assert telegram.file_requests == 0 and llm.requests == []
    for _ in range(3):  # an album: one refusal, not one per photo
        telegram.user_photo(USER, media_group_id="42")
    await telegram.wait_for_message(USER, "не видит изображения", after=declined.message_id)
    await telegram.wait_idle(USER)
    refusals = [m for m in telegram.messages(USER) if "не видит изображения" in m.text]
    assert len(refusals) == 2 and telegram.file_requests == 0
