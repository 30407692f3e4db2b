"""/broadcast: preview, confirm once, stop. Sending and progress run in runtime/broadcasts."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from edge.admin_keyboards import broadcast_confirm_keyboard
from edge.broadcasts import BroadcastRunner
from edge.callbacks import AdminBroadcast, AdminMenu, BroadcastAct, Section
from edge.editing import remove_buttons
from edge.states import BroadcastDraft
from services.operator.broadcast import Broadcast, BroadcastService
from services.users import UsersService
from texts import Texts

router = Router(name=__name__)


async def _preview(bot: Bot, draft: Broadcast, texts: Texts, users: UsersService) -> None:
    """The admin sees the message as users will, and how many will get it."""
    if draft.text is not None:
        await bot.send_message(draft.created_by, draft.text)
    else:
        assert draft.from_chat_id is not None and draft.message_id is not None
        await bot.copy_message(draft.created_by, draft.from_chat_id, draft.message_id)
    count = len(await users.broadcast_recipients())
    await bot.send_message(
        draft.created_by,
        texts("admin_broadcast_preview", count=count),
        reply_markup=broadcast_confirm_keyboard(draft.id, texts),
    )


@router.message(Command("broadcast"))
async def broadcast_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    broadcasts: BroadcastService,
    broadcast_runner: BroadcastRunner,
    users: UsersService,
    state: FSMContext,
) -> None:
    """/broadcast TEXT, /broadcast as a reply to a message, or bare /broadcast."""
    if running := await broadcast_runner.running_id():
        await message.answer(texts("admin_broadcast_busy", broadcast_id=running))
        return
    admin_id = message.chat.id
    if message.reply_to_message is not None:
        draft = await broadcasts.create(
            admin_id, from_chat_id=admin_id, message_id=message.reply_to_message.message_id
        )
    elif command.args:
        html = message.html_text.split(maxsplit=1)[1] if message.html_text else command.args
        draft = await broadcasts.create(admin_id, text=html)
    else:
        await state.set_state(BroadcastDraft.content)
        await message.answer(texts("admin_broadcast_ask"))
        return
    await _preview(bot, draft, texts, users)


@router.callback_query(AdminMenu.filter(F.section == Section.BROADCAST))
async def broadcast_section(
    query: CallbackQuery, bot: Bot, texts: Texts, state: FSMContext
) -> None:
    """The panel's "Broadcast": ask for the message."""
    await query.answer()
    await state.set_state(BroadcastDraft.content)
    await bot.send_message(query.from_user.id, texts("admin_broadcast_ask"))


@router.message(BroadcastDraft.content, ~F.text.startswith("/"))
async def broadcast_content(
    message: Message,
    bot: Bot,
    texts: Texts,
    broadcasts: BroadcastService,
    users: UsersService,
    state: FSMContext,
) -> None:
    """The message sent after bare /broadcast: it is what will be copied."""
    await state.clear()
    draft = await broadcasts.create(
        message.chat.id, from_chat_id=message.chat.id, message_id=message.message_id
    )
    await _preview(bot, draft, texts, users)


@router.callback_query(AdminBroadcast.filter(F.action == BroadcastAct.SEND))
async def send_broadcast(
    query: CallbackQuery,
    callback_data: AdminBroadcast,
    bot: Bot,
    texts: Texts,
    broadcasts: BroadcastService,
    broadcast_runner: BroadcastRunner,
) -> None:
    """ "Send" under a preview: start it, once however often pressed."""
    if not broadcasts.claim(callback_data.broadcast_id):  # check-and-set before any await
        await query.answer(texts("admin_broadcast_taken"))
        return
    await query.answer()
    broadcast = await broadcasts.get(callback_data.broadcast_id)
    if broadcast is None or broadcast.status != "draft":
        return
    await remove_buttons(query)
    if running := await broadcast_runner.running_id():
        broadcasts.release(broadcast.id)  # nothing decided: Send may be pressed later
        await bot.send_message(
            query.from_user.id, texts("admin_broadcast_busy", broadcast_id=running)
        )
        return
    broadcast.status = "running"
    await broadcasts.save(broadcast)
    broadcast_runner.start(broadcast)


@router.callback_query(AdminBroadcast.filter(F.action == BroadcastAct.DROP))
async def drop_broadcast(
    query: CallbackQuery,
    callback_data: AdminBroadcast,
    bot: Bot,
    texts: Texts,
    broadcasts: BroadcastService,
) -> None:
    """ "Cancel" under a preview."""
    if not broadcasts.claim(callback_data.broadcast_id):
        await query.answer(texts("admin_broadcast_taken"))
        return
    await query.answer()
    broadcast = await broadcasts.get(callback_data.broadcast_id)
    if broadcast is None or broadcast.status != "draft":
        return
    await remove_buttons(query)
    broadcast.status = "cancelled"
    await broadcasts.save(broadcast)
    await bot.send_message(query.from_user.id, texts("admin_cancelled"))


@router.callback_query(AdminBroadcast.filter(F.action == BroadcastAct.STOP))
async def stop_broadcast(
    query: CallbackQuery, callback_data: AdminBroadcast, broadcast_runner: BroadcastRunner
) -> None:
    """ "Stop" under the progress message."""
    await query.answer()
    await remove_buttons(query)
    await broadcast_runner.request_stop(callback_data.broadcast_id)
