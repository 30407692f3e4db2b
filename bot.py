"""Entry point: `python bot.py` starts long polling."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods.base import Response
from aiogram.types import BotCommand, BotCommandScopeDefault, Message, Update

from config import ConfigError, Settings, load_settings
from handlers import get_routers
from handlers.middlewares import InFlightMiddleware, UserContextMiddleware
from runtime import broadcasts, maintenance, notices, reminders, web
from runtime import tasks as background
from services.catalog import CatalogError, load_catalog
from services.container import Services, create_services
from services.log_setup import setup_logging
from services.storage.base import StorageDamagedError
from texts import CATALOGS, get_texts

logger = logging.getLogger(__name__)

# aiogram builds `Response[<result type>]` for every API answer; pydantic caches those
# generic types only weakly, so they were rebuilt again and again (≈3 ms each).
# Holding the ones this bot uses on every message keeps them cached.
_RESPONSE_TYPES = (Response[list[Update]], Response[Message], Response[bool])

MENU_COMMANDS = (
    "start",
    "model",
    "new",
    "profile",
    "plans",
    "promo",
    "paysupport",
    "help",
    "cancel",
)


def create_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview_is_disabled=True,
        ),
    )


def create_dispatcher(settings: Settings, services: Services) -> Dispatcher:
    """The production wiring: routers, middlewares, services and lifecycle hooks."""
    dispatcher = Dispatcher()
    dispatcher.workflow_data.update(services.as_workflow_data())
    dispatcher["settings"] = settings
    dispatcher["edit_interval"] = settings.stream_edit_interval
    in_flight = InFlightMiddleware()
    dispatcher.update.outer_middleware(in_flight)
    dispatcher.update.outer_middleware(UserContextMiddleware(services.users))
    dispatcher.include_routers(*get_routers())

    # Start-up runs these in this order; shutdown too.
    notices.setup(dispatcher, services, settings)
    broadcasts.setup(dispatcher, services)
    tasks = background.setup(dispatcher)
    reminders.setup(tasks, services, settings)
    maintenance.setup(tasks, services, settings)
    web.setup(dispatcher, services, settings)

    async def on_startup(bot: Bot) -> None:
        await _set_commands(bot)
        logger.info(
            "Bot started; models: %d, plans: %d",
            len(services.catalog.models),
            len(services.catalog.plans),
        )

    async def on_shutdown() -> None:
        still_running = await in_flight.wait(settings.shutdown_grace)
        if still_running:
            logger.warning("Stopping with %d update(s) still being handled", still_running)
        await services.close()
        logger.info("Bot stopped")

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    return dispatcher


async def _set_commands(bot: Bot) -> None:
    for language in CATALOGS:
        texts = get_texts(language)
        commands = [
            BotCommand(command=name, description=texts(f"cmd_{name}")) for name in MENU_COMMANDS
        ]
        await bot.set_my_commands(
            commands,
            scope=BotCommandScopeDefault(),
            language_code=None if language == "ru" else language,
        )


async def run(settings: Settings) -> None:
    catalog = load_catalog(settings.catalog_path)
    services = await create_services(settings, catalog)
    bot = create_bot(settings)
    dispatcher = create_dispatcher(settings, services)
    await bot.delete_webhook(drop_pending_updates=False)
    await dispatcher.start_polling(bot, allowed_updates=dispatcher.resolve_used_update_types())


def main() -> None:
    try:
        settings = load_settings()
        load_catalog(settings.catalog_path)  # fail fast with a clear line
    except (ConfigError, CatalogError) as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings)
    try:
        asyncio.run(run(settings))
    except (CatalogError, StorageDamagedError) as error:  # found while reading DATA_DIR
        print(error, file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
