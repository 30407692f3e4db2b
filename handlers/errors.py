"""Errors out of handlers: an expected refusal (UserFacingError) is said to the user in
their words; anything else is the last resort: logged with its update, the user told
something went wrong, the admins alerted."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, Update, User

from services.errors import UserFacingError
from services.operator.alerts import AlertService
from services.shared.link import REDIS_DOWN, SharedStateUnavailableError
from services.shared.state import SharedState
from texts import get_texts, language_for

logger = logging.getLogger(__name__)
router = Router(name=__name__)


def event_sender(update: Update) -> User | None:
    """The private-chat user an update came from (messages and button presses)."""
    if update.message and update.message.chat.type == "private":
        return update.message.from_user
    if update.callback_query:
        return update.callback_query.from_user
    return None


@router.errors(ExceptionTypeFilter(UserFacingError))
async def on_refusal(event: ErrorEvent) -> None:
    """A service refused, as it expects to: the refusal's text, under the pressed button
    as an alert, or in the chat the message came from."""
    refusal = event.exception
    assert isinstance(refusal, UserFacingError)  # the filter
    update = event.update
    logger.info("Update %s refused: %s (%s)", update.update_id, refusal.text_key, refusal)
    await _tell(update, refusal)


@router.errors(ExceptionTypeFilter(*REDIS_DOWN))
async def on_redis_unreachable(event: ErrorEvent, shared: SharedState) -> None:
    """Redis stopped answering under aiogram's own use of it (the FSM state): the link
    logs it once, the user hears it is temporary; no alert per update."""
    shared.link.failed(event.exception)
    await _tell(event.update, SharedStateUnavailableError())


async def _tell(update: Update, refusal: UserFacingError) -> None:
    query, message = update.callback_query, update.message
    sender = query.from_user if query else message.from_user if message else None
    if sender is None:
        return
    text = get_texts(language_for(sender.language_code))(refusal.text_key, **refusal.values)
    try:
        if query is not None:
            await query.answer(text[:200], show_alert=True)
        elif message is not None:
            await message.answer(text)
    except TelegramAPIError as error:
        logger.warning("Could not tell the user about a refusal: %s", error)


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot, alerts: AlertService) -> None:
    """Any unhandled exception in a handler."""
    error = event.exception
    update = event.update
    if isinstance(error, TelegramForbiddenError):
        logger.info("User blocked the bot during update %s", update.update_id)
        return
    logger.error(
        "Error handling update %s: %r",
        update.update_id,
        error,
        exc_info=(type(error), error, error.__traceback__),
    )
    await alerts.alert(
        f"handler:{type(error).__name__}",
        f"Error in a handler: {type(error).__name__}: {str(error)[:300]} "
        f"(update {update.update_id})",
    )
    sender = event_sender(update)
    if sender is None:
        return
    texts = get_texts(language_for(sender.language_code))
    try:
        await bot.send_message(sender.id, texts("internal_error"))
    except Exception:
        logger.warning("Could not tell the user about the error", exc_info=True)
