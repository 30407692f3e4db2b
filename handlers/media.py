"""Pictures, voice messages and files in private chats: asked like typed text.

A photo (or an image sent as a file) goes to a model that sees pictures with its
caption; speech is transcribed and files are read as text. Each waits its turn first,
so a voice message followed by a typed one reaches the model in the order sent;
refusals come before any download, paid transcription or model call that they can
come before (a voice message's length is judged by its size and its file too, not only
by what it declares).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Audio, Document, Message, PhotoSize, VideoNote, Voice
from cachetools import TTLCache

from edge.answering import Answerer, Answering, refusal_text, refuse_privately, submit
from edge.keyboards import plans_button
from edge.middlewares import Turn
from services.chat.attachments import (
    MAX_DOCUMENT_BYTES,
    AttachmentError,
    BoundedBuffer,
    DownloadTooBigError,
    check_document,
    document_text,
    with_file,
)
from services.chat.inbox import Photo, Request
from services.chat.llm import ProviderError
from services.chat.refusals import SPEECH_REFUSALS, ChatRefusalError, Refusal
from services.chat.voice import Clip, VoiceService, most_bytes, recording
from services.models import UserRecord
from texts import Texts

logger = logging.getLogger(__name__)


def _private_media(message: Message) -> bool:
    """Not text, in a private chat: one cheap check that lets every text message skip
    this router's handlers."""
    return message.text is None and message.chat.type == "private"


router = Router(name=__name__)
router.message.filter(_private_media)

# The file types /audio/transcriptions takes, told by the file name's extension.
AUDIO_FORMATS = frozenset(
    {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}
)
# Images sent as files that go to the model as pictures (the types providers take).
PICTURE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
TRANSCRIPT_SHOWN = 3500  # characters of a transcript echoed back (a long one is cut)
# Words heard that are more than a request may hold: said as such (without the words).
TRANSCRIPT_REFUSALS: Final[Mapping[Refusal, str]] = {
    Refusal.TOO_LONG: "voice_transcript_too_long",
    Refusal.TOO_LONG_FOR_MODEL: "voice_transcript_too_long_for_model",
}
# Albums whose photos were refused: one refusal per album, not one per photo.
_refused_albums: TTLCache[str, bool] = TTLCache(maxsize=10_000, ttl=60)


@dataclass(slots=True, frozen=True)
class Speech:
    """A voice-like message: what to download, what to call the file, and what Telegram
    says of it."""

    file: Voice | Audio | VideoNote
    file_name: str
    clip: Clip


def speech_of(message: Message) -> Speech | None:
    if message.voice:
        voice = message.voice
        return Speech(voice, "voice.ogg", Clip("voice", voice.duration, voice.file_size))
    if message.video_note:
        note = message.video_note
        return Speech(note, "video_note.mp4", Clip("video_note", note.duration, note.file_size))
    if message.audio:
        audio = message.audio
        name = audio.file_name or ""
        if name.rpartition(".")[2].lower() not in AUDIO_FORMATS:  # e.g. .opus (Ogg inside)
            name = "audio.ogg" if "ogg" in (audio.mime_type or "") else "audio.mp3"
        return Speech(audio, name, Clip("audio", audio.duration, audio.file_size))
    return None


@router.message(F.voice | F.audio | F.video_note)
async def voice_message(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    answerer: Answerer,
    voice: VoiceService,
    turn: Turn,
) -> None:
    """Speech: checked, transcribed, echoed back as text, then asked."""
    answering = answerer.bind(bot, texts)
    speech = speech_of(message)
    assert speech is not None  # the filter
    await turn.wait()
    heard = await _hear(message, user, answering, voice, speech)
    if heard is None:  # refused or failed: the user was told
        turn.passed()
        return
    shown = heard if len(heard) <= TRANSCRIPT_SHOWN else heard[:TRANSCRIPT_SHOWN] + "…"
    await message.reply(answering.texts("voice_heard", text=shown))
    await submit(answering, message, user, heard, turn)


async def _hear(
    message: Message,
    user: UserRecord,
    answering: Answering,
    voice: VoiceService,
    speech: Speech,
) -> str | None:
    """The words of a voice-like message once they fit a request; None when refused or
    failed (the user told). Each step refuses before the next costs anything: the
    length the message declares or its size implies (before download), the file's own
    header (before the paid transcription), the transcript (before the model call)."""
    texts = answering.texts
    try:
        await answering.chat.gate.quota.refresh(user.id)  # other processes' counts too
        admission = voice.admit(user, speech.clip)
        bound = most_bytes(admission, speech.clip.kind)
        await answering.bot.send_chat_action(message.chat.id, ChatAction.TYPING)
        try:
            data = await _download(answering.bot, speech.file, bound)
        except DownloadTooBigError:
            raise voice.beyond_bound(admission, speech.clip, bound) from None
        if data is None:
            await message.reply(texts("file_download_failed"))
            return None
        heard = await asyncio.to_thread(recording, speech.clip, data, speech.file_name)
        admission = voice.readmit(admission, heard)
        transcript = await voice.transcribe(admission, heard)
        if not transcript.text:
            await message.reply(texts("voice_empty"))
            return None
        # More words than the request may hold (the free length limit, the model's
        # context, today's characters): neither shown back nor asked.
        answering.chat.gate.check_fits(user, transcript.text)
    except ChatRefusalError as refusal:
        await _refuse_speech(answering, message, refusal)
        return None
    except ProviderError:
        await message.reply(texts("voice_failed"))
        return None
    return transcript.text


async def _refuse_speech(answering: Answering, message: Message, refusal: ChatRefusalError) -> None:
    """A refusal of a voice message: one of speech, or a transcript too long for the
    request, said as such in reply to it; the others as for typed text."""
    texts = answering.texts
    if refusal.reason in TRANSCRIPT_REFUSALS:
        key = TRANSCRIPT_REFUSALS[refusal.reason]
        text = texts(key, model=refusal.model.name, limit=refusal.limit)
    elif refusal.reason in SPEECH_REFUSALS:
        text = refusal_text(refusal, texts, answering.catalog, 0, answering.zone)
    else:
        await _refuse(answering, message, refusal)
        return
    markup = plans_button(texts) if refusal.plan_lifts else None
    await message.reply(text, reply_markup=markup)


@router.message(F.photo)
async def photo_message(
    message: Message, bot: Bot, user: UserRecord, texts: Texts, answerer: Answerer, turn: Turn
) -> None:
    """A photo (its largest size) and its caption, to a model that sees pictures."""
    answering = answerer.bind(bot, texts)
    assert message.photo  # the filter
    await turn.wait()
    await _ask_with_picture(answering, message, user, turn, message.photo[-1], "image/jpeg")


@router.message(F.document)
async def document_message(
    message: Message, bot: Bot, user: UserRecord, texts: Texts, answerer: Answerer, turn: Turn
) -> None:
    """A text file or a PDF: its text, under the caption, is the question (an image file
    is a picture)."""
    answering = answerer.bind(bot, texts)
    document = message.document
    assert document is not None  # the filter
    await turn.wait()
    mime_type = (document.mime_type or "").lower()
    if mime_type in PICTURE_TYPES and (document.file_size or 0) <= MAX_DOCUMENT_BYTES:
        await _ask_with_picture(answering, message, user, turn, document, mime_type)
        return
    try:
        check_document(document.file_name, document.mime_type, document.file_size)
        await answering.chat.gate.quota.refresh(user.id)  # other processes' counts too
        answering.chat.gate.check_ready(user)  # access and today's requests, before the download
        try:
            data = await _download(answering.bot, document, MAX_DOCUMENT_BYTES)
        except DownloadTooBigError:
            raise AttachmentError("file_too_big") from None
        if data is None:
            raise AttachmentError("file_download_failed")
        text = await asyncio.to_thread(document_text, document.file_name, document.mime_type, data)
    except AttachmentError as error:
        turn.passed()
        mb = MAX_DOCUMENT_BYTES // 2**20
        await message.reply(answering.texts(error.text_key, mb=mb))
        return
    except ChatRefusalError as refusal:
        turn.passed()
        await _refuse(answering, message, refusal)
        return
    request = with_file(message.caption or "", document.file_name, text)
    await submit(answering, message, user, request, turn)


async def _ask_with_picture(
    answering: Answering,
    message: Message,
    user: UserRecord,
    turn: Turn,
    file: PhotoSize | Document,
    mime_type: str,
) -> None:
    try:
        await answering.chat.gate.quota.refresh(user.id)
        answering.chat.gate.check_ready(user, pictures=1)
    except ChatRefusalError as refusal:
        turn.passed()
        album = message.media_group_id
        if album is not None and album in _refused_albums:
            return  # the album's first photo was answered already
        if album is not None:
            _refused_albums[album] = True
        await _refuse(answering, message, refusal)
        return
    try:
        data = await _download(answering.bot, file, MAX_DOCUMENT_BYTES)
    except DownloadTooBigError:
        turn.passed()
        await message.reply(answering.texts("file_too_big", mb=MAX_DOCUMENT_BYTES // 2**20))
        return
    if data is None:
        turn.passed()
        await message.reply(answering.texts("file_download_failed"))
        return
    photo = Photo(data, mime_type)
    request = Request(message.caption or "", (photo,), album=message.media_group_id)
    await submit(answering, message, user, request, turn)


async def _refuse(answering: Answering, message: Message, refusal: ChatRefusalError) -> None:
    user_id = message.from_user.id if message.from_user else message.chat.id
    await refuse_privately(
        answering, message.chat.id, user_id, refusal, 0, reply_to=message.message_id
    )


async def _download(
    bot: Bot, file: Document | PhotoSize | Voice | Audio | VideoNote, max_bytes: int
) -> bytes | None:
    """The file's bytes from Telegram; None if Telegram would not give them;
    DownloadTooBigError (reading stopped) past `max_bytes`."""
    buffer = BoundedBuffer(max_bytes)
    try:
        await bot.download(file, destination=buffer)
    except (TimeoutError, TelegramAPIError, OSError) as error:
        logger.warning("Could not download file %s: %s", file.file_unique_id, error)
        return None
    return buffer.getvalue()
