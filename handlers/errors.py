"""The last resort: log any handler error with its update, tell the user, alert admins."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import ErrorEvent, Update, User

from services.operator.alerts import AlertService
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
