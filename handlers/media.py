"""Pictures, voice messages and files in private chats: asked like typed text.

A photo (or an image sent as a file) goes to a model that sees pictures with its
caption; speech is transcribed and files are read as text. Each waits its turn first,
so a voice message followed by a typed one reaches the model in the order sent;
refusals come before any download or paid transcription.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Audio, Document, Message, PhotoSize, VideoNote, Voice
from cachetools import TTLCache

from handlers.chat import Answering, ProvideAnswering, refusal_text, send_refusal, submit
from handlers.keyboards import plans_button
from handlers.middlewares import Turn
from services.attachments import (
    MAX_DOCUMENT_BYTES,
    AttachmentError,
    check_document,
    document_text,
    with_file,
)
from services.chat import ChatRefusalError
from services.inbox import Photo, Request
from services.llm import ProviderError
from services.models import UserRecord
from services.voice import VoiceRefusalError, VoiceService

logger = logging.getLogger(__name__)


def _private_media(message: Message) -> bool:
    """Not text, in a private chat: one cheap check that lets every text message skip
    this router's handlers."""
    return message.text is None and message.chat.type == "private"


router = Router(name=__name__)
router.message.filter(_private_media)
router.message.middleware(ProvideAnswering())

# The file types /audio/transcriptions takes, told by the file name's extension.
AUDIO_FORMATS = frozenset(
    {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}
)
# Images sent as files that go to the model as pictures (the types providers take).
PICTURE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
TRANSCRIPT_SHOWN = 3500  # characters of a transcript echoed back (a long one is cut)
# Albums whose photos were refused: one refusal per album, not one per photo.
_refused_albums: TTLCache[str, bool] = TTLCache(maxsize=10_000, ttl=60)


@dataclass(slots=True, frozen=True)
class Speech:
    """A voice-like message: what to download, and what to call the file."""

    file: Voice | Audio | VideoNote
    file_name: str
    duration: int


def speech_of(message: Message) -> Speech | None:
    if message.voice:
        return Speech(message.voice, "voice.ogg", message.voice.duration)
    if message.video_note:
        return Speech(message.video_note, "video_note.mp4", message.video_note.duration)
    if message.audio:
        name = message.audio.file_name or ""
        if name.rpartition(".")[2].lower() not in AUDIO_FORMATS:  # e.g. .opus (Ogg inside)
            name = "audio.ogg" if "ogg" in (message.audio.mime_type or "") else "audio.mp3"
        return Speech(message.audio, name, message.audio.duration)
    return None


@router.message(F.voice | F.audio | F.video_note)
async def voice_message(
    message: Message, user: UserRecord, answering: Answering, voice: VoiceService, turn: Turn
) -> None:
    """Speech: checked, transcribed, echoed back as text, then asked."""
    speech = speech_of(message)
    assert speech is not None  # the filter
    texts = answering.texts
    await turn.wait()
    try:
        model = answering.chat.check_ready(user)
        voice.check(user.id, speech.duration, model)
    except VoiceRefusalError as refused:
        turn.passed()
        text = texts(f"voice_{refused.reason}", limit=refused.limit)
        helps = refused.reason.endswith(("_free", "_day"))  # a plan lifts these
        await message.reply(text, reply_markup=plans_button(texts) if helps else None)
        return
    except ChatRefusalError as refusal:
        turn.passed()
        await _refuse(answering, message, refusal)
        return
    await answering.bot.send_chat_action(message.chat.id, ChatAction.TYPING)
    audio = await _download(answering.bot, speech.file)
    if audio is None:
        turn.passed()
        await message.reply(texts("file_download_failed"))
        return
    try:
        heard = await voice.transcribe(user.id, audio, speech.file_name, speech.duration)
    except ProviderError:
        turn.passed()
        await message.reply(texts("voice_failed"))
        return
    if not heard:
        turn.passed()
        await message.reply(texts("voice_empty"))
        return
    shown = heard if len(heard) <= TRANSCRIPT_SHOWN else heard[:TRANSCRIPT_SHOWN] + "…"
    await message.reply(texts("voice_heard", text=shown))
    await submit(answering, message, user, heard, turn)


@router.message(F.photo)
async def photo_message(
    message: Message, user: UserRecord, answering: Answering, turn: Turn
) -> None:
    """A photo (its largest size) and its caption, to a model that sees pictures."""
    assert message.photo  # the filter
    await turn.wait()
    await _ask_with_picture(answering, message, user, turn, message.photo[-1], "image/jpeg")


@router.message(F.document)
async def document_message(
    message: Message, user: UserRecord, answering: Answering, turn: Turn
) -> None:
    """A text file or a PDF: its text, under the caption, is the question (an image file
    is a picture)."""
    document = message.document
    assert document is not None  # the filter
    await turn.wait()
    mime_type = (document.mime_type or "").lower()
    if mime_type in PICTURE_TYPES and (document.file_size or 0) <= MAX_DOCUMENT_BYTES:
        await _ask_with_picture(answering, message, user, turn, document, mime_type)
        return
    try:
        check_document(document.file_name, document.mime_type, document.file_size)
        data = await _download(answering.bot, document)
        if data is None:
            raise AttachmentError("download_failed")
        text = await asyncio.to_thread(document_text, document.file_name, document.mime_type, data)
    except AttachmentError as error:
        turn.passed()
        mb = MAX_DOCUMENT_BYTES // 2**20
        await message.reply(answering.texts(f"file_{error.reason}", mb=mb))
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
        answering.chat.check_ready(user, pictures=1)
    except ChatRefusalError as refusal:
        turn.passed()
        album = message.media_group_id
        if album is not None and album in _refused_albums:
            return  # the album's first photo was answered already
        if album is not None:
            _refused_albums[album] = True
        await _refuse(answering, message, refusal)
        return
    data = await _download(answering.bot, file)
    if data is None:
        turn.passed()
        await message.reply(answering.texts("file_download_failed"))
        return
    photo = Photo(data, mime_type)
    request = Request(message.caption or "", (photo,), album=message.media_group_id)
    await submit(answering, message, user, request, turn)


async def _refuse(answering: Answering, message: Message, refusal: ChatRefusalError) -> None:
    texts = answering.texts
    text = refusal_text(refusal, texts, answering.catalog, 0, answering.zone)
    await send_refusal(
        answering.bot, message.chat.id, refusal, text, texts, reply_to=message.message_id
    )


async def _download(
    bot: Bot, file: Document | PhotoSize | Voice | Audio | VideoNote
) -> bytes | None:
    """The file's bytes from Telegram; None if Telegram would not give them."""
    buffer = io.BytesIO()
    try:
        await bot.download(file, destination=buffer)
    except (TimeoutError, TelegramAPIError, OSError) as error:
        logger.warning("Could not download file %s: %s", file.file_unique_id, error)
        return None
    return buffer.getvalue()
