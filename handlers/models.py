"""/model: choosing the model that answers."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from edge.callbacks import ModelChoice, OpenScreen, Screen, ShowModels
from edge.editing import edit_text, show
from edge.keyboards import locked_model_keyboard, models_keyboard
from edge.shop import locked_text, models_lines
from services.catalog import Catalog, Model
from services.chat.chat import ChatService
from services.chat.llm import LLMGateway
from services.limits.access import AccessService
from services.models import UserRecord
from services.users import UsersService
from texts import Raw, Texts

router = Router(name=__name__)


def _keyboard(
    user: UserRecord, catalog: Catalog, access: AccessService, llm: LLMGateway, current: str
) -> InlineKeyboardMarkup:
    return models_keyboard(
        list(catalog.models),
        current=current,
        open_keys=access.open_model_keys(user.id),
        available_keys={model.key for model in catalog.models if llm.is_available(model)},
    )


def _menu_text(texts: Texts, catalog: Catalog, llm: LLMGateway, current: str) -> str:
    """The menu's text, with why each model its provider no longer serves is unavailable."""
    lines = [
        texts("model_not_served_line", model=model.name, provider=llm.provider_name(model.provider))
        for model in catalog.models
        if llm.unavailable_reason(model) == "not_served"
    ]
    menu = texts("model_menu", model=current, models=Raw(models_lines(catalog, texts)))
    return "\n\n".join([menu, "\n".join(lines)]) if lines else menu


def _unavailable_text(texts: Texts, llm: LLMGateway, model: Model) -> str:
    if llm.unavailable_reason(model) == "not_served":
        return texts(
            "model_not_served", model=model.name, provider=llm.provider_name(model.provider)
        )
    return texts("model_unavailable", model=model.name)


@router.message(Command("model"), F.chat.type == "private")
async def model_menu(
    message: Message,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    access: AccessService,
    llm: LLMGateway,
) -> None:
    """/model: show every model with its state."""
    current = chat.current_model(user)
    await message.answer(
        _menu_text(texts, catalog, llm, current.name),
        reply_markup=_keyboard(user, catalog, access, llm, current.key),
    )


@router.callback_query(OpenScreen.filter(F.screen == Screen.MODELS))
async def model_menu_button(
    query: CallbackQuery,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    access: AccessService,
    llm: LLMGateway,
) -> None:
    """/start's Models button."""
    await query.answer()
    if isinstance(query.message, Message):
        await model_menu(query.message, user, texts, chat, catalog, access, llm)


@router.callback_query(ShowModels.filter())
async def models_button(
    query: CallbackQuery,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    chat: ChatService,
    catalog: Catalog,
    access: AccessService,
    llm: LLMGateway,
) -> None:
    """Back from a locked model: the menu in place."""
    await query.answer()
    current = chat.current_model(user)
    await show(
        query,
        bot,
        _menu_text(texts, catalog, llm, current.name),
        _keyboard(user, catalog, access, llm, current.key),
    )


@router.callback_query(ModelChoice.filter())
async def choose_model(
    query: CallbackQuery,
    callback_data: ModelChoice,
    bot: Bot,
    user: UserRecord,
    texts: Texts,
    catalog: Catalog,
    access: AccessService,
    users: UsersService,
    chat: ChatService,
    llm: LLMGateway,
) -> None:
    """A model button: switch to it, or say which plan opens it."""
    model = catalog.model(callback_data.key)
    if model is None:
        await query.answer(texts("model_unknown"), show_alert=True)
        return
    if not llm.is_available(model):
        await query.answer()
        if query.message:
            await query.message.answer(_unavailable_text(texts, llm, model))
        return
    if not access.can_use(user.id, model):
        await query.answer()  # the plans that open it, with prices, in place of the menu
        plans = catalog.plans_with_model(model.key)
        await show(
            query,
            bot,
            locked_text(model, texts, catalog),
            locked_model_keyboard(plans, texts),
        )
        return
    await users.set_model(user, model.key)
    await chat.conversations.set_current_model(user.id, model.key)
    await query.answer(_short(texts("model_chosen", model=model.name)))
    if isinstance(query.message, Message):
        await edit_text(
            bot,
            query.message.chat.id,
            query.message.message_id,
            _menu_text(texts, catalog, llm, model.name),
            _keyboard(user, catalog, access, llm, model.key),
        )


def _short(html_text: str) -> str:
    """Callback answers are plain text up to 200 characters."""
    plain = html_text.replace("<b>", "").replace("</b>", "")
    return plain[:200]
