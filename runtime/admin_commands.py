"""Each admin's command menu: the users' commands and the admin's own, set for that
admin's chat only (BotCommandScopeChat), in the admin's language as last seen.

Telegram refuses a chat scope for someone who never opened the bot ("chat not found"):
that admin gets the menu the next time the bot starts after they did; one line is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat

from edge.notifier import Notifier

logger = logging.getLogger(__name__)

ADMIN_COMMANDS = (
    "admin",
    "stats",
    "payments",
    "grant",
    "revoke",
    "confirm",
    "reject",
    "refund",
    "settle",
    "promo_new",
    "promo_list",
    "promo_del",
    "broadcast",
)


async def set_admin_commands(bot: Bot, notifier: Notifier, menu: Sequence[str]) -> None:
    """The menu for every admin in ADMIN_IDS; a refusal for one does not stop the others."""
    for admin_id in sorted(notifier.admin_ids):
        texts = await notifier.texts_for(admin_id)
        commands = [BotCommand(command=name, description=texts(f"cmd_{name}")) for name in menu] + [
            BotCommand(command=name, description=texts(f"cmd_admin_{name}"))
            for name in ADMIN_COMMANDS
        ]
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=admin_id))
        except TelegramAPIError as error:
            logger.warning("Admin command menu not set for %s (%s)", admin_id, error)
