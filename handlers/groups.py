"""Groups and forum topics: the bot answers only when addressed, one conversation per topic.

Addressed means: mentioned by @username, a reply to one of the bot's messages, or
/ask (also /ask@bot). Access is the asking user's (their plan, their limits). Answers
in one group (topic) go one at a time, in the order asked, at least GROUP_SPACING
seconds apart (edge/group_lines; one line for every process with Redis), and are not
streamed, which keeps within Telegram's 20 messages a minute per group.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, ReplyParameters, User

from config import Settings
from edge.answering import (
    Answerer,
    Answering,
    guarded,
    refusal_text,
    refuse_privately,
    send_refusal,
    show_result,
)
from edge.callbacks import BuyPlan, EnterPromo, PlansMenu, ShowPlans
from edge.deep_links import PLANS, PROFILE, private_link
from edge.group_lines import Lines, Place
from edge.keyboards import private_chat_keyboard
from edge.streaming import StreamingReply
from services.catalog import Catalog
from services.chat.chat import ChatService
from services.chat.refusals import ChatRefusalError, Refusal
from services.models import UserRecord
from texts import Texts

router = Router(name=__name__)
router.message.filter(F.chat.type.in_({"group", "supergroup"}))

NO_STREAMING = 1e9  # an edit interval no answer reaches: send once, at the end
# Refusals that show a user's own numbers (what is left, until when): said privately, and
# only that the limit ran out in the group.
PERSONAL: frozenset[Refusal] = frozenset(
    {
        Refusal.QUOTA_FREE_REQUESTS,
        Refusal.QUOTA_FREE_CHARS,
        Refusal.QUOTA_FAIR_USE_REQUESTS,
        Refusal.QUOTA_PLAN_TOKENS,
        Refusal.VOICE_FREE_DAY,
    }
)


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
        await message.reply(await _usage(bot, texts))
        return
    await _answer_in_group(
        message, question, bot, user, texts, chat, catalog, settings, group_lines, answerer
    )


@router.message(Command("new"))
async def new_group_conversation(message: Message, texts: Texts, chat: ChatService) -> None:
    """/new in a group: this topic's conversation (or the group's) starts over."""
    thread, key = _topic(message)
    if (await chat.conversations.all(message.chat.id)).get(key) is not None:
        await chat.conversations.delete(message.chat.id, key)
    await message.reply(texts("group_new_done" if thread else "group_new_done_group"))


@router.message(Command("plans", "subscribe", "profile", "promo"))
async def private_screens(message: Message, command: CommandObject, bot: Bot, texts: Texts) -> None:
    """/plans, /profile (also /plans@bot) in a group: they are personal, so a link opens
    the private chat at that screen."""
    screen = PROFILE if command.command == "profile" else PLANS
    url = private_link((await bot.me()).username, screen)
    markup = private_chat_keyboard(url, texts) if url else None
    await message.reply(texts("group_private_only"), reply_markup=markup)


IN_GROUP = F.message.chat.type.in_({"group", "supergroup"})


@router.callback_query(ShowPlans.filter(), IN_GROUP)
@router.callback_query(PlansMenu.filter(), IN_GROUP)
@router.callback_query(BuyPlan.filter(), IN_GROUP)
@router.callback_query(EnterPromo.filter(), IN_GROUP)
async def plan_button_in_group(query: CallbackQuery, bot: Bot) -> None:
    """A plan button under a message in a group: Telegram opens the private chat at the
    plans (a message to someone who never opened the bot could not be sent)."""
    await query.answer(url=private_link((await bot.me()).username, PLANS))


async def _usage(bot: Bot, texts: Texts) -> str:
    return texts("group_ask_usage", bot=(await bot.me()).username or "")


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
        await message.reply(await _usage(bot, texts))
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
            if refusal.reason in PERSONAL:
                await _refuse_privately(deps, message, user, refusal, len(question), thread_id)
                return
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


async def _refuse_privately(
    deps: Answering,
    message: Message,
    user: UserRecord,
    refusal: ChatRefusalError,
    length: int,
    thread_id: int | None,
) -> None:
    """A quota refusal: its numbers (and the private chat's buttons: the other free model,
    the plans) to the user privately; the group told only that their limit ran out (and,
    where the private chat is not open, where to see it)."""
    bot, texts = deps.bot, deps.texts
    try:
        await refuse_privately(deps, user.id, user.id, refusal, length)
        key = "group_quota_private"
    except TelegramAPIError:  # never opened the bot, or blocked it
        key = "group_quota_generic"
    url = private_link((await bot.me()).username, PROFILE)
    await bot.send_message(
        message.chat.id,
        texts(key, name=user.first_name or ""),
        reply_markup=private_chat_keyboard(url, texts) if url else None,
        message_thread_id=thread_id,
        reply_parameters=ReplyParameters(message_id=message.message_id),
    )
