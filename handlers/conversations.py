"""/new, /chats and /forget: several conversations, each with its own model, mode and
memory (the mode is chosen in `modes`)."""

from __future__ import annotations

import datetime as dt
import time

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from config import Settings
from edge.callbacks import ChatsAct, ChatsMenu
from edge.editing import remove_buttons, show
from edge.keyboards import rename_cancel_keyboard
from edge.middlewares import Turn
from edge.states import ChatRename
from services.catalog import Catalog
from services.chat.chat import ChatService
from services.chat.conversations import ConversationError, NewConversation
from services.models import Conversation, Conversations, UserRecord
from services.users import UsersService
from texts import Raw, Texts

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

LISTED = 10  # conversations shown in /chats, newest first
DROPPED_NAMED = 3  # conversations the /new answer names when several were deleted
# How long "type the new title" waits: any text may be a title, so the step has a Cancel
# button and ends by itself; what is typed later is a question for the model.
RENAME_WAIT = 300.0


# Keyboards and texts ----------------------------------------------------------------------
def _chats_keyboard(conversations: Conversations, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for item in _newest(conversations):
        if item.id != conversations.current:
            builder.button(
                text=f"💬 {item.title or texts('chats_untitled')}",
                callback_data=ChatsMenu(action=ChatsAct.OPEN, conversation_id=item.id),
            )
    current = conversations.current or ""
    builder.button(text=texts("btn_chat_new"), callback_data=ChatsMenu(action=ChatsAct.NEW))
    if current:
        builder.button(
            text=texts("btn_chat_rename"),
            callback_data=ChatsMenu(action=ChatsAct.RENAME, conversation_id=current),
        )
        builder.button(
            text=texts("btn_chat_delete"),
            callback_data=ChatsMenu(action=ChatsAct.DELETE, conversation_id=current),
        )
    builder.adjust(1)
    return builder.as_markup()


def _newest(conversations: Conversations) -> list[Conversation]:
    return sorted(conversations.items, key=lambda item: item.updated_at, reverse=True)[:LISTED]


def _chats_text(
    conversations: Conversations, texts: Texts, catalog: Catalog, settings: Settings
) -> str:
    lines = []
    for item in _newest(conversations):
        model = catalog.model(item.model_key)
        day = dt.datetime.fromtimestamp(item.updated_at, settings.zone).strftime("%d.%m")
        lines.append(
            texts(
                "chats_item",
                mark="▶️" if item.id == conversations.current else "•",
                title=item.title or texts("chats_untitled"),
                date=day,
                model=model.name if model else "—",
            )
        )
    return texts("chats_list", count=len(conversations.items), items=Raw("\n".join(lines)))


def _dropped_text(made: NewConversation, limit: int, texts: Texts) -> str | None:
    """What /new deleted to stay within the limit, told in its answer; None if nothing."""
    if not made.dropped:
        return None
    titles = [item.title or texts("chats_untitled") for item in made.dropped]
    if len(titles) == 1:
        return texts("new_dropped_one", limit=limit, title=titles[0])
    named = ", ".join(texts("new_dropped_title", title=title) for title in titles[:DROPPED_NAMED])
    if len(titles) > DROPPED_NAMED:
        named = f"{named} {texts('new_dropped_others')}"
    return texts("new_dropped_many", limit=limit, count=len(titles), titles=Raw(named))


# /new and /chats --------------------------------------------------------------------------
@router.message(Command("new"))
async def new_chat(
    message: Message, user: UserRecord, texts: Texts, chat: ChatService, turn: Turn
) -> None:
    """/new: a new conversation; the previous ones stay in /chats."""
    await turn.wait()  # what was sent before /new belongs to the old conversation
    made = await chat.new_conversation(user)
    dropped = _dropped_text(made, chat.conversations.max_conversations, texts)
    await message.answer(f"{texts('new_done')}\n\n{dropped}" if dropped else texts("new_done"))


@router.message(Command("chats"))
async def list_chats(
    message: Message,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """/chats: the conversations, to switch, rename or delete."""
    await chat.conversations.current(user.id, user.model_key)  # there is always one
    conversations = await chat.conversations.all(user.id)
    await message.answer(
        _chats_text(conversations, texts, catalog, settings),
        reply_markup=_chats_keyboard(conversations, texts),
    )


@router.callback_query(ChatsMenu.filter(F.action == ChatsAct.OPEN))
async def open_chat(
    query: CallbackQuery,
    callback_data: ChatsMenu,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    users: UsersService,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """A conversation's button: continue it (with its own model and mode)."""
    try:
        opened = await chat.conversations.switch(user.id, callback_data.conversation_id)
    except ConversationError:
        await query.answer(texts("chats_gone"), show_alert=True)
        return
    await chat.cancel(user.id)
    if opened.model_key and opened.model_key != user.model_key:
        await users.set_model(user, opened.model_key)
    title = Raw(opened.title or texts("chats_untitled"))  # an alert is plain text: no escaping
    await query.answer(texts("chats_switched", title=title)[:200])
    conversations = await chat.conversations.all(user.id)
    await show(
        query,
        bot,
        _chats_text(conversations, texts, catalog, settings),
        _chats_keyboard(conversations, texts),
    )


@router.callback_query(ChatsMenu.filter(F.action == ChatsAct.NEW))
async def new_chat_button(
    query: CallbackQuery, bot: Bot, user: UserRecord, texts: Texts, chat: ChatService
) -> None:
    """ "New conversation" under /chats."""
    made = await chat.new_conversation(user)
    await query.answer(texts("new_done")[:200])
    await remove_buttons(query)
    dropped = _dropped_text(made, chat.conversations.max_conversations, texts)
    if dropped:
        await bot.send_message(query.from_user.id, dropped)


@router.callback_query(ChatsMenu.filter(F.action == ChatsAct.RENAME))
async def rename_ask(
    query: CallbackQuery, callback_data: ChatsMenu, bot: Bot, texts: Texts, state: FSMContext
) -> None:
    """ "Rename": ask for the new title."""
    await query.answer()
    await state.set_state(ChatRename.title)
    await state.update_data(conversation_id=callback_data.conversation_id, asked=time.time())
    await bot.send_message(
        query.from_user.id, texts("chats_rename_ask"), reply_markup=rename_cancel_keyboard(texts)
    )


@router.callback_query(ChatsMenu.filter(F.action == ChatsAct.RENAME_CANCEL))
async def rename_cancel(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """Cancel under "type the new title"."""
    if await state.get_state() == ChatRename.title.state:
        await state.clear()
    await query.answer()
    await show(query, bot, texts("chats_rename_cancelled"))


@router.message(ChatRename.title, F.text, ~F.text.startswith("/"))
async def rename_chat(
    message: Message, user: UserRecord, texts: Texts, chat: ChatService, state: FSMContext
) -> None:
    """The new title typed; after RENAME_WAIT the text goes on to the model instead."""
    data = await state.get_data()
    await state.clear()
    if time.time() - float(data.get("asked", 0.0)) > RENAME_WAIT:
        raise SkipHandler
    try:
        renamed = await chat.conversations.rename(
            user.id, data["conversation_id"], message.text or ""
        )
    except ConversationError:
        await message.answer(texts("chats_gone"))
        return
    await message.answer(texts("chats_renamed", title=renamed.title))


@router.callback_query(ChatsMenu.filter(F.action == ChatsAct.DELETE))
async def delete_ask(
    query: CallbackQuery, callback_data: ChatsMenu, bot: Bot, texts: Texts
) -> None:
    """ "Delete": ask first."""
    await query.answer()
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("btn_yes_delete"),
        callback_data=ChatsMenu(
            action=ChatsAct.DELETE_OK, conversation_id=callback_data.conversation_id
        ),
    )
    await bot.send_message(
        query.from_user.id, texts("chats_delete_ask"), reply_markup=builder.as_markup()
    )


@router.callback_query(ChatsMenu.filter(F.action == ChatsAct.DELETE_OK))
async def delete_chat(
    query: CallbackQuery,
    callback_data: ChatsMenu,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
) -> None:
    """Deletion confirmed: the conversation and its memory are gone."""
    await remove_buttons(query)
    await chat.cancel(user.id)
    try:
        await chat.conversations.delete(user.id, callback_data.conversation_id)
    except ConversationError:
        await query.answer(texts("chats_gone"))
        return
    await query.answer(texts("chats_deleted")[:200])


# /forget ----------------------------------------------------------------------------------
@router.message(Command("forget"))
async def forget_ask(message: Message, texts: Texts) -> None:
    """/forget: ask before deleting every conversation."""
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("btn_yes_forget"), callback_data=ChatsMenu(action=ChatsAct.FORGET_OK))
    await message.answer(texts("forget_ask"), reply_markup=builder.as_markup())


@router.callback_query(ChatsMenu.filter(F.action == ChatsAct.FORGET_OK))
async def forget_all(
    query: CallbackQuery, bot: Bot, user: UserRecord, texts: Texts, chat: ChatService
) -> None:
    """Confirmed: every conversation and its memory deleted for good."""
    await remove_buttons(query)
    await chat.forget(user.id)
    await query.answer()
    await bot.send_message(query.from_user.id, texts("forget_done"))
