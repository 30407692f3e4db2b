"""Plain messages go to the user's model; this router is the catch-all, registered last."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message, MessageGenerationStopped

from edge.answering import Answerer, start_worker, submit
from edge.callbacks import AnswerAct, AnswerControl
from edge.editing import remove_buttons
from edge.middlewares import Turn
from services.chat.chat import ChatService
from services.models import UserRecord
from texts import Texts

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, texts: Texts) -> None:
    """A command no router knows (admin commands included, for non-admins)."""
    await message.answer(texts("unknown_command"))


@router.message(F.text)
async def ask_model(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    answerer: Answerer,
    turn: Turn,
) -> None:
    """Any text: stream the model's answer into the chat. Messages sent meanwhile wait,
    in order, and are answered together right after (this handler answers them). The
    hottest path: its dependencies come as parameters, not through a middleware."""
    await turn.wait()  # a burst is queued in the order it was sent
    await submit(answerer.bind(bot, texts), message, user, message.text or "", turn)


@router.callback_query(AnswerControl.filter(F.action == AnswerAct.STOP))
async def stop_answer(
    query: CallbackQuery, user: UserRecord, texts: Texts, chat: ChatService
) -> None:
    """Stop under an answer being written (on any process): the provider's stream is
    closed at once."""
    stopped = await chat.cancel(user.id)
    await query.answer(texts("stop_done" if stopped else "stop_nothing"))
    if not stopped:
        await remove_buttons(query)


@router.stopped_message_generation()
async def stop_draft(event: MessageGenerationStopped, answerer: Answerer) -> None:
    """Telegram's stop button on an answer streamed as a draft: ends it as Stop does (the
    answer streaming that very draft, on any process). The update names no user; a
    private chat's id is its user's id."""
    if event.chat.type == "private":
        await answerer.pacing.stop_draft(event.chat.id, event.draft_id)


@router.callback_query(AnswerControl.filter(F.action == AnswerAct.RETRY))
async def retry_answer(
    query: CallbackQuery, bot: Bot, user: UserRecord, texts: Texts, answerer: Answerer
) -> None:
    """Retry under an answer or an error: the last request again; its new answer replaces
    the old one in the memory. Only the latest answer can be retried: an older one's
    button is taken away when pressed (removing it at every new answer would cost a
    Telegram call per answer)."""
    chat = answerer.chat
    message = query.message
    where = (message.chat.id, message.message_id) if message else None
    if where is None or await chat.retries.last_answer(user.id) != where:
        await query.answer(texts("retry_not_last"))
        await remove_buttons(query)
        return
    if not await chat.inbox.claim(user.id):  # an answer is being written
        await query.answer(texts("retry_busy"))
        return
    try:
        request = await chat.take_retry(user.id)
    except BaseException:
        await chat.inbox.release(user.id)
        raise
    if request is None:
        await chat.inbox.release(user.id)
        await query.answer(texts("retry_nothing"))
        await remove_buttons(query)
        return
    await query.answer()
    await remove_buttons(query)
    start_worker(answerer.bind(bot, texts), where[0], user, request, whole=True)


@router.message()
async def not_text(message: Message, texts: Texts) -> None:
    """Stickers, photos...: say what is understood (the media router takes files and,
    when the catalog has `[transcription]`, voice)."""
    await message.answer(texts("only_text"))


@router.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    """A button no handler accepts (stale, or an admin button pressed by a non-admin)."""
    await query.answer()
