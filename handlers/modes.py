"""/mode: the current conversation's assistant, a preset from the catalog or the user's
own instruction (shown back before use)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from edge.callbacks import ModeAct, ModeChoice
from edge.editing import remove_buttons, show
from edge.keyboards import mode_keyboard, mode_use_keyboard
from edge.states import CustomMode
from services.catalog import CUSTOM_MODE, Catalog
from services.chat.chat import ChatService
from services.chat.conversations import INSTRUCTION_LIMIT
from services.models import Conversation, UserRecord
from texts import Texts

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


def _mode_name(catalog: Catalog, conversation: Conversation, language: str, texts: Texts) -> str:
    mode = catalog.modes_by_key.get(conversation.mode)
    return mode.title(language) if mode else texts("mode_custom_name")


@router.message(Command("mode"))
async def mode_menu(
    message: Message, user: UserRecord, texts: Texts, chat: ChatService, catalog: Catalog
) -> None:
    """/mode: the current conversation's assistant (a preset or your own instruction)."""
    current = await chat.conversations.current(user.id, user.model_key)
    await message.answer(
        texts("mode_menu", mode=_mode_name(catalog, current, user.language, texts)),
        reply_markup=mode_keyboard(catalog, current, user.language, texts),
    )


@router.callback_query(ModeChoice.filter(F.action == ModeAct.SET))
async def set_mode(
    query: CallbackQuery,
    callback_data: ModeChoice,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
) -> None:
    """A preset chosen: the conversation answers in that mode from now on."""
    mode = catalog.modes_by_key.get(callback_data.key)
    if mode is None:
        await query.answer(texts("mode_unknown"), show_alert=True)
        return
    current = await chat.conversations.current(user.id, user.model_key)
    updated = await chat.conversations.set_mode(user.id, current.id, mode.key)
    await query.answer(texts("mode_set", mode=mode.title(user.language))[:200])
    await show(
        query,
        bot,
        texts("mode_menu", mode=mode.title(user.language)),
        mode_keyboard(catalog, updated, user.language, texts),
    )


@router.callback_query(ModeChoice.filter(F.action == ModeAct.CUSTOM))
async def custom_mode_ask(query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext) -> None:
    """ "My own instruction": ask for it."""
    await query.answer()
    await state.set_state(CustomMode.instruction)
    await bot.send_message(query.from_user.id, texts("mode_custom_ask", limit=INSTRUCTION_LIMIT))


@router.message(CustomMode.instruction, F.text, ~F.text.startswith("/"))
async def custom_mode_text(message: Message, texts: Texts, state: FSMContext) -> None:
    """The instruction typed: shown back before it is used."""
    instruction = (message.text or "").strip()
    if len(instruction) > INSTRUCTION_LIMIT:
        await message.answer(
            texts("mode_custom_too_long", length=len(instruction), limit=INSTRUCTION_LIMIT)
        )
        return
    await state.update_data(instruction=instruction)
    await message.answer(
        texts("mode_custom_preview", instruction=instruction), reply_markup=mode_use_keyboard(texts)
    )


@router.callback_query(ModeChoice.filter(F.action == ModeAct.USE))
async def custom_mode_use(
    query: CallbackQuery,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    state: FSMContext,
) -> None:
    """ "Use it": the conversation follows the instruction from now on."""
    instruction = (await state.get_data()).get("instruction")
    await state.clear()
    await remove_buttons(query)
    if not instruction:
        await query.answer(texts("mode_custom_expired"), show_alert=True)
        return
    current = await chat.conversations.current(user.id, user.model_key)
    await chat.conversations.set_mode(user.id, current.id, CUSTOM_MODE, instruction)
    await query.answer()
    await bot.send_message(query.from_user.id, texts("mode_custom_set"))
