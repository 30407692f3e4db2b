"""Groups and forum topics: the bot answers only when addressed, one conversation per topic.

Addressed means: mentioned by @username, a reply to one of the bot's messages, or
/ask (also /ask@bot). Access is the asking user's (their plan, their limits). Answers
in one group (topic) go one at a time, in the order asked, at least GROUP_SPACING
seconds apart (edge/group_lines; one line for every process with Redis), and are not
streamed, which keeps within Telegram's 20 messages a minute per group.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, User

from config import Settings
from edge.answering import Answerer, Answering, guarded, refusal_text, send_refusal, show_result
from edge.group_lines import Lines, Place
from edge.streaming import StreamingReply
from services.catalog import Catalog
from services.chat.chat import ChatService
from services.chat.refusals import ChatRefusalError
from services.models import UserRecord
from texts import Texts

router = Router(name=__name__)
router.message.filter(F.chat.type.in_({"group", "supergroup"}))

NO_STREAMING = 1e9  # an edit interval no answer reaches: send once, at the end


def question_for_bot(message: Message, me: User) -> str | None:
    """The question if the message is meant for the bot, else None."""
    text = message.text or ""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return text.strip()
    handle = f"@{me.username}".lower() if me.username else None
    for entity in message.entities or ():
        if entity.type == "mention" and handle:
            mention = entity.extract_from(text)
            if mention.lower() == handle:
                return text.replace(mention, "", 1).strip()
    return None


def _topic(message: Message) -> tuple[int, str]:
    """The forum topic (0: the whole group) and its conversation's key."""
    thread = message.message_thread_id if message.is_topic_message else None
    return (thread or 0), (f"t{thread}" if thread else "group")


@router.message(Command("ask"))
async def ask_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    settings: Settings,
    group_lines: Lines,
    answerer: Answerer,
) -> None:
    """/ask QUESTION in a group."""
    question = (command.args or "").strip()
    if not question:
        await message.reply(texts("group_ask_usage"))
        return
    await _answer_in_group(
        message, question, bot, user, texts, chat, catalog, settings, group_lines, answerer
    )


@router.message(Command("new"))
async def new_group_conversation(message: Message, texts: Texts, chat: ChatService) -> None:
    """/new in a group: this topic's conversation starts over."""
    _, key = _topic(message)
    if (await chat.conversations.all(message.chat.id)).get(key) is not None:
        await chat.conversations.delete(message.chat.id, key)
    await message.reply(texts("group_new_done"))


@router.message(F.text)
async def group_text(
    message: Message,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    settings: Settings,
    group_lines: Lines,
    answerer: Answerer,
) -> None:
    """Any text in a group: answered only if meant for the bot (no model call otherwise).
    Commands other than /ask and /new are not for the chat (admin ones never work here)."""
    if (message.text or "").startswith("/"):
        return
    question = question_for_bot(message, await bot.me())
    if question is None:
        return
    if not question:
        await message.reply(texts("group_ask_usage"))
        return
    await _answer_in_group(
        message, question, bot, user, texts, chat, catalog, settings, group_lines, answerer
    )


@router.message()
async def group_other(message: Message) -> None:
    """Anything else in a group (stickers, service messages): ignored."""


async def _answer_in_group(
    message: Message,
    question: str,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    settings: Settings,
    group_lines: Lines,
    answerer: Answerer,
) -> None:
    """The question takes its place in its topic's line (or is refused when the line is
    full); the answer is written in a worker task once its turn comes."""
    thread, key = _topic(message)
    place = await group_lines.enter(message.chat.id, thread)
    if place is None:
        await message.reply(texts("group_busy"))
        return
    deps = answerer.bind(bot, texts)
    answering = _answer_in_line(place, message, question, key, user, deps, chat, catalog, settings)
    name = f"group-answer-{message.chat.id}"
    answerer.workers.start(guarded(deps, message.chat.id, user.id, answering), name)


async def _answer_in_line(
    place: Place,
    message: Message,
    question: str,
    key: str,
    user: UserRecord,
    deps: Answering,
    chat: ChatService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    bot, texts = deps.bot, deps.texts
    thread_id = message.message_thread_id if message.is_topic_message else None
    try:
        await place.wait_turn()
        await deps.pacing.catch_up(message.chat.id)
        reply = StreamingReply(
            bot,
            message.chat.id,
            pacing=deps.pacing,
            edit_interval=NO_STREAMING,
            drafts=False,
            thread_id=thread_id,
            reply_to=message.message_id,
        )
        try:
            result = await chat.answer(user, question, reply, owner=message.chat.id, topic=key)
        except ChatRefusalError as refusal:
            text = refusal_text(refusal, texts, catalog, len(question), settings.zone)
            await send_refusal(
                bot,
                message.chat.id,
                refusal,
                text,
                texts,
                reply_to=message.message_id,
                thread_id=thread_id,
            )
            return
        finally:
            reply.close()
        await show_result(reply, result, texts)
    finally:
        await place.leave()
