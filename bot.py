"""Entry point: `python bot.py` starts long polling (or, with WEBHOOK_URL, serves the
webhook); `python bot.py --check` only checks the settings, the catalog and DATA_DIR's
money files, without contacting Telegram."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.methods.base import Response
from aiogram.types import BotCommand, BotCommandScopeDefault, Message, Update
from redis.asyncio import Redis

from config import ConfigError, Settings, load_settings
from edge.allowance import bot_descriptions
from edge.answering import Answerer
from edge.group_lines import GROUP_QUEUE_LIMIT, GROUP_SPACING, GroupLines
from edge.middlewares import (
    ArrivalOrder,
    FloodMiddleware,
    InFlightMiddleware,
    UserContextMiddleware,
)
from edge.model_moves import ModelMoveMiddleware
from edge.notifier import Notifier
from edge.streaming import StreamPacing
from edge.update_claims import MemoryClaims, RedisClaims, UpdateClaims, UpdateDedupe
from edge.workers import Workers
from handlers import get_routers
from runtime import (
    broadcasts,
    connect,
    maintenance,
    model_check,
    money_sync,
    notices,
    outbox,
    reminders,
    stars_ledger,
    web,
    webhook,
)
from runtime import shared as shared_loops
from runtime import tasks as background
from runtime.admin_commands import set_admin_commands
from runtime.health import Health, PollWatch, quiet_polling_retries
from runtime.leader import DatabaseBusyError, Leadership, PostgresLeadership, SoleProcess
from runtime.redis import (
    RedisProbe,
    RedisUnavailableError,
    close_redis,
    create_redis,
    fsm_storage,
    redis_location,
)
from services.catalog import Catalog, CatalogError, check_plans_in_use, load_catalog
from services.container import Services, create_services, plans_in_use
from services.limits.flood import ANSWER_COST, Flood, FloodControl
from services.log_setup import setup_logging
from services.shared.flood import RedisFlood
from services.shared.lines import RedisLines
from services.shared.pacing import SharedPacing
from services.storage.base import Retention, StorageDamagedError, StorageError
from services.storage.json_store import JsonStorage
from services.storage.lock import DataDirBusyError, DataDirLock
from services.storage.postgres import PostgresStorage
from services.storage.postgres.check import DatabaseCheckError, check_database
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
    "chats",
    "mode",
    "profile",
    "plans",
    "promo",
    "invite",
    "support",
    "help",
    "cancel",
)


def create_bot(settings: Settings, health: Health | None = None) -> Bot:
    """The Bot; with `health`, its getUpdates answers are recorded (see runtime.health)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    if health is not None:
        session.middleware(PollWatch(health))
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview_is_disabled=True,
        ),
    )


def create_dispatcher(
    settings: Settings,
    services: Services,
    web_server: web.WebServer | None = None,
    health: Health | None = None,
) -> Dispatcher:
    """The production wiring: routers, middlewares, services and lifecycle hooks."""
    redis = services.shared.redis
    # FSM states in Redis when processes share it, else in memory. No events isolation, as
    # today: aiogram's lock would wrap each whole update from before our middlewares, and
    # redis-py's lock is a spin lock, not FIFO, so a burst would pass in lock order, not
    # arrival order (README, Shared state).
    storage = fsm_storage(redis, services.shared.prefix) if redis is not None else None
    # Its middleware goes in our list below, after the arrival order's ticket: it reads
    # the state (from Redis) before the handler, an await a burst must not pass through
    # in another order.
    dispatcher = Dispatcher(storage=storage, disable_fsm=True)
    dispatcher.workflow_data.update(services.as_workflow_data())
    dispatcher["settings"] = settings
    notifier = dispatcher["notifier"] = Notifier(services.users, settings.admin_ids)
    dispatcher["group_lines"] = (
        RedisLines(services.shared, limit=GROUP_QUEUE_LIMIT, spacing=GROUP_SPACING)
        if redis is not None
        else GroupLines()
    )
    shared = services.shared
    # What the Bot API server has shown, for every answer (429s: every process's).
    pacing = StreamPacing(SharedPacing(shared, shared.bus) if shared.bus is not None else None)
    pacing.on_draft_stop = services.chat.cancel_here
    answerer = dispatcher["answerer"] = Answerer(
        services.chat,
        services.users,
        services.catalog,
        settings.stream_edit_interval,
        settings.zone,
        pacing,
        services.alerts,
        Workers(),  # answers are written in tasks of their own
    )
    in_flight = InFlightMiddleware()
    claims: UpdateClaims = (
        RedisClaims(services.shared, settings.bot_id) if redis is not None else MemoryClaims()
    )
    flood: Flood = (
        RedisFlood(services.shared, exempt=settings.admin_ids)
        if redis is not None
        else FloodControl(exempt=settings.admin_ids)
    )
    # What queued behind an answer becomes one more model call: charged like one.
    services.chat.inbox.on_batch = lambda user_id: flood.charge(user_id, ANSWER_COST - 1)
    # Every middleware, in the order an update meets them (all outer: they run before
    # any filter; a message's ones after the update's, which gave `user` and `texts`).
    middlewares: list[tuple[TelegramEventObserver, BaseMiddleware]] = [
        # First: a ticket in the sender's arrival order before any await (the claims and
        # flood control may wait for Redis, and would let a burst pass in another order).
        (dispatcher.update, ArrivalOrder()),
        (dispatcher.update, UpdateDedupe(claims)),  # a copy of an update goes no further
        (dispatcher.update, in_flight),
        (dispatcher.update, FloodMiddleware(flood)),
        (dispatcher.update, dispatcher.fsm),  # `state`: the sender's FSM state
        (dispatcher.update, UserContextMiddleware(services.users)),
        (
            dispatcher.message,
            ModelMoveMiddleware(services.model_check, services.users, services.chat, notifier),
        ),
    ]
    for observer, middleware in middlewares:
        observer.outer_middleware(middleware)
    dispatcher.include_routers(*get_routers())

    # Start-up runs these in this order; shutdown too.
    notices.setup(dispatcher, services, notifier, settings)
    # Several processes (a database and Redis shared): one leads the singleton jobs.
    dsn = settings.database_url.get_secret_value() if settings.database_url else None
    leadership = PostgresLeadership(dsn) if dsn and redis is not None else Leadership()
    tasks = background.setup(dispatcher, leadership)
    shared_loops.setup(tasks, services, answerer)
    broadcasts.setup(dispatcher, tasks, services, notifier)
    if redis is not None and health is not None:
        probe = health.redis = RedisProbe(redis, services.shared.link)
        tasks.add("redis-watch", lambda _bot: probe.watch())
    reminders.setup(tasks, services, notifier, settings)
    maintenance.setup(tasks, services, settings)
    outbox.setup(dispatcher, tasks, services, notifier, settings.zone)
    stars_ledger.setup(tasks, services, settings)
    money_sync.setup(tasks, services.money_sync)
    model_check.setup(dispatcher, services, settings)
    web.setup(dispatcher, web_server)

    async def on_startup(bot: Bot) -> None:
        try:
            await _set_commands(bot)
            await _set_descriptions(bot, services.catalog)
        except TelegramAPIError as error:  # Telegram went away right after answering getMe
            logger.warning(
                "Command menu or description not updated (%s); they stay as they were", error
            )
        await set_admin_commands(bot, notifier, MENU_COMMANDS)
        logger.info(
            "Bot started; models: %d, plans: %d",
            len(services.catalog.models),
            len(services.catalog.plans),
        )

    async def on_shutdown() -> None:
        handling, answering = await asyncio.gather(
            in_flight.wait(settings.shutdown_grace), answerer.workers.wait(settings.shutdown_grace)
        )
        if handling or answering:
            logger.warning(
                "Stopping with %d update(s) still being handled, %d answer(s) being written",
                handling,
                answering,
            )
        await answerer.workers.stop()  # their queues released while Redis is still open
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


async def _set_descriptions(bot: Bot, catalog: Catalog) -> None:
    """What the empty chat shows before /start (description) and the bot's profile and
    shares (short description), per language, with the free allowance and the price."""
    for language in CATALOGS:
        texts = get_texts(language)
        code = None if language == "ru" else language
        description, short = bot_descriptions(texts, catalog)
        await bot.set_my_description(description=description, language_code=code)
        await bot.set_my_short_description(short_description=short, language_code=code)


async def freeze_start_up_objects() -> None:
    """Move what start-up built (modules, pydantic schemas, the catalog, the routers) out
    of the garbage collector's sight, so later collections walk only what updates make.
    bench/benchmark.py, side by side in one run: open loop 1.26x the messages per second
    (2.00 against 2.55 ms of bot CPU a message), closed loop 1.07x."""
    gc.collect()
    gc.freeze()


async def run(settings: Settings) -> None:
    health = Health(settings.data_dir, max_poll_age=settings.health_max_poll_age)
    catalog = load_catalog(settings.catalog_path)
    redis = await create_redis(settings)  # RedisUnavailableError: one line, exit 2
    sole = None
    if settings.database_url is not None and redis is None:  # one process on the database
        sole = SoleProcess(settings.database_url.get_secret_value())
        await sole.acquire(settings.data_lock_wait)  # DatabaseBusyError: one line, exit 2
    try:
        await _serve(settings, catalog, health, redis)
    finally:
        if sole is not None:
            await sole.release()
        await close_redis(redis)  # last: answers release their queues with it


async def _serve(settings: Settings, catalog: Catalog, health: Health, redis: Redis | None) -> None:
    services = await create_services(settings, catalog, redis)
    if isinstance(services.storage, PostgresStorage):
        health.database = services.storage.health_problem
    bot = create_bot(settings, health)
    web_server = web.create_server(settings, services, health)
    dispatcher = create_dispatcher(settings, services, web_server, health)
    services_closed = False

    async def after_shutdown() -> None:  # registered last: runs after on_shutdown
        nonlocal services_closed
        services_closed = True

    dispatcher.shutdown.register(after_shutdown)
    dispatcher.startup.register(freeze_start_up_objects)  # last: after every start-up step
    try:
        if settings.webhook_url is not None and web_server is not None:  # WEB_PORT is set
            await webhook.serve(bot, dispatcher, settings, health, web_server)
            return
        reached, _ = await connect.until_signal(
            connect.connect(bot, settings, health.telegram, web_server)
        )
        if not reached:
            logger.info("Stopped before polling started")
            return
        await dispatcher.start_polling(bot, allowed_updates=dispatcher.resolve_used_update_types())
    finally:
        # start_polling closes these on its way out; this covers every way out before it
        # (and webhook mode, whose shutdown closes the services).
        if not services_closed:
            await services.close()
        await bot.session.close()
        if web_server is not None:
            await web_server.stop()


async def check(settings: Settings, catalog: Catalog) -> str:
    """`--check`: DATA_DIR's money files (or the database) read, nothing written, and
    matched to the catalog."""
    if settings.database_url is not None:
        found, live = await check_database(settings.database_url.get_secret_value())
        if live is not None:
            check_plans_in_use(catalog, plans_in_use(live))
    else:
        data_dir = settings.data_dir
        if not data_dir.exists():
            return f"DATA_DIR {data_dir} does not exist yet (created at the first start)"
        retention = Retention(open_payment_seconds=0)
        money = await JsonStorage(data_dir, retention).load_money()
        check_plans_in_use(catalog, plans_in_use(money))
        found = (
            f"DATA_DIR {data_dir} readable ({len(money.payments)} live payments, "
            f"{len(money.subscriptions)} subscriptions, {len(money.promo_codes)} promo codes)"
        )
    if settings.redis_url is not None:  # pinged, nothing written
        await close_redis(await create_redis(settings))
        found += f", Redis at {redis_location(settings.redis_url.get_secret_value())} answers"
    return found


def main(argv: list[str] | None = None) -> None:
    # What the imports built (modules, pydantic schemas) is frozen as it is: a full
    # collection here finds about 50 objects to free and took 0.2-0.3 s, so the one in
    # freeze_start_up_objects walks only what start-up builds after this.
    gc.freeze()
    parser = argparse.ArgumentParser(
        description="AI models bot for Telegram (long polling or webhook)."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check settings, catalog and DATA_DIR, print one line and exit (0: OK, 2: error)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        catalog = load_catalog(settings.catalog_path)  # fail fast with a clear line
        if args.check:
            data = asyncio.run(check(settings, catalog))
            print(
                f"OK: settings, catalog ({len(catalog.models)} models, "
                f"{len(catalog.plans)} plans), {data}; Telegram not contacted"
            )
            return
    except (
        ConfigError,
        CatalogError,
        StorageDamagedError,
        RedisUnavailableError,
        DatabaseCheckError,
    ) as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings)
    quiet_polling_retries()
    try:
        if settings.database_url is not None:  # processes share the database: no DATA_DIR
            asyncio.run(run(settings))
        else:
            with DataDirLock(settings.data_dir) as lock:  # one process per DATA_DIR, for life
                lock.acquire(wait=settings.data_lock_wait)
                asyncio.run(run(settings))
    except (
        ConfigError,
        CatalogError,
        StorageDamagedError,
        DataDirBusyError,
        DatabaseBusyError,
        connect.TokenRejectedError,
        RedisUnavailableError,
        StorageError,
    ) as error:
        # found while reading DATA_DIR, opening the web port or at Telegram's first answer
        print(error, file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
