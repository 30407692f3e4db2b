"""Builds every service once at start-up and closes them at shutdown."""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from redis.asyncio import Redis

from config import PROVIDER_NAMES, ConfigError, Settings, proxy_problem
from services.catalog import Catalog, check_plans_in_use
from services.chat.chat import ChatService
from services.chat.conversations import ConversationService
from services.chat.llm import LLMGateway, ProviderConfig
from services.chat.model_check import ModelCheck
from services.chat.voice import VoiceService
from services.limits.access import AccessService
from services.limits.quota import QuotaService
from services.models import Payment, UnmatchedMoney
from services.money.books import open_books
from services.money.payments import MoneyArrival, PaymentService
from services.money.payments.records import REUSE_MARGIN
from services.money.promo import GUESS_WINDOW, PromoService
from services.money.referrals import ReferralService
from services.money.subscriptions import SubscriptionService
from services.money.sync import MoneySync
from services.money.yoomoney import CHECK_BUTTON_COOLDOWN, YooMoneyChecker, YooMoneyClient
from services.operator.alerts import AlertService
from services.operator.broadcast import BroadcastService
from services.operator.stats import StatsService
from services.shared.answers import RedisAnswers
from services.shared.bus import EventBus
from services.shared.inbox import RedisInbox
from services.shared.quota import RedisCounters
from services.shared.retry import RedisRetries
from services.shared.state import SharedState
from services.shared.throttle import RedisCooldown, RedisWindow
from services.storage.base import DAY, MoneyState, Retention, Storage
from services.storage.json_store import JsonStorage
from services.storage.postgres import PostgresStorage
from services.users import UsersService


@dataclass(slots=True)
class Services:
    catalog: Catalog
    storage: Storage
    llm: LLMGateway
    model_check: ModelCheck
    alerts: AlertService
    access: AccessService
    users: UsersService
    chat: ChatService
    subscriptions: SubscriptionService
    promo: PromoService
    payments: PaymentService
    yoomoney: YooMoneyChecker
    http: aiohttp.ClientSession
    stats: StatsService
    broadcasts: BroadcastService
    retention: Retention
    quota: QuotaService
    referrals: ReferralService
    voice: VoiceService
    money_sync: MoneySync
    shared: SharedState  # Redis (REDIS_URL), or nothing: this process's memory

    def as_workflow_data(self) -> dict[str, object]:
        """What handlers can ask for by parameter name."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    async def maintain(self) -> None:
        """Fold the money journal into snapshots and forget what left the live set."""
        await self.storage.maintain()
        now = time.time()
        self.payments.prune(now)
        self.payments.outbox.prune(self.retention, now)
        self.subscriptions.prune(self.retention, now)

    async def close(self) -> None:
        await self.stats.flush()
        await self.http.close()
        await self.llm.close()
        await self.storage.close()


def provider_configs(settings: Settings, catalog: Catalog) -> dict[str, ProviderConfig]:
    """Base URL (setting or the catalog's default), key and proxy for each catalog provider."""
    configs = {}
    for name, provider in catalog.providers.items():
        if name in PROVIDER_NAMES:
            base_url, api_key = settings.provider_base_url(name), settings.provider_key(name)
            proxy = settings.provider_proxy(name)
        else:  # a provider added in the catalog only: read its settings from the environment
            prefix = name.upper()
            base_url = os.environ.get(f"{prefix}_BASE_URL")
            api_key = os.environ.get(f"{prefix}_API_KEY")
            proxy = (os.environ.get(f"{prefix}_PROXY") or "").strip() or None
            if proxy and (problem := proxy_problem(proxy)):
                raise ConfigError(f"Configuration error: {prefix}_PROXY {problem}")
        base_url = base_url or provider.base_url
        configs[name] = ProviderConfig(base_url=base_url, api_key=api_key, proxy=proxy)
    return configs


@contextlib.contextmanager
def collections_paused() -> Iterator[None]:
    """No garbage collection while start-up loads the live set. It makes hundreds of
    thousands of long-lived records and no cycles (60k running subscriptions: 400k
    objects), and the collector walked all of them five times over while they were
    loaded: 0.6 s of the 1.5 s start-up at L60 (bench/storage_benchmark.py). bot.py
    freezes them once start-up is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def make_storage(settings: Settings, retention: Retention) -> JsonStorage | PostgresStorage:
    """PostgreSQL when DATABASE_URL is set, DATA_DIR's JSON files otherwise."""
    if settings.database_url is not None:
        alone = settings.redis_url is None  # then one process per database (runtime/leader)
        return PostgresStorage(settings.database_url.get_secret_value(), retention, exclusive=alone)
    return JsonStorage(settings.data_dir, retention)


async def create_services(
    settings: Settings, catalog: Catalog, redis: Redis | None = None
) -> Services:
    """Every service, built once (the garbage collector paused meanwhile); with `redis`,
    what processes share lives there (runtime/redis.py makes the client)."""
    with collections_paused():
        return await _build_services(settings, catalog, SharedState(redis, settings.redis_prefix))


async def _build_services(settings: Settings, catalog: Catalog, shared: SharedState) -> Services:
    retention = Retention(
        open_payment_seconds=settings.payment_ttl_hours * 3600 + settings.late_payment_days * DAY,
        invoice_reuse_seconds=settings.payment_ttl_hours * 3600 - REUSE_MARGIN,
    )
    storage = make_storage(settings, retention)
    await storage.open()
    money = await storage.load_money()
    check_plans_in_use(catalog, plans_in_use(money))
    llm = LLMGateway(catalog, provider_configs(settings, catalog), settings.request_timeout)
    alerts = AlertService()
    storage.problem_listeners.append(lambda text: alerts.alert("storage", text))
    stats = StatsService(storage, settings.zone)
    stats.problem_listeners.append(lambda text: alerts.alert("stats", text))
    await stats.load()
    books = await open_books(
        storage,
        money,
        catalog,
        retention,
        zone=settings.zone,
        invoice_ttl=settings.payment_ttl_hours * 3600,
    )
    subscriptions, promo, payments, referrals = (
        books.subscriptions,
        books.promo,
        books.payments,
        books.referrals,
    )
    access = AccessService(catalog, subscriptions)
    broadcasts = BroadcastService(storage, rate=settings.broadcast_rate)
    quota = QuotaService(
        catalog,
        access,
        stats,
        settings.zone,
        exempt=settings.admin_ids,
        extra_requests=referrals.extra_requests,
        shared=RedisCounters(shared) if shared.redis is not None else None,
    )
    payments.unmatched_listeners.append(
        lambda item: alerts.alert(f"unmatched:{item.id}", unmatched_alert(item))
    )
    payments.failure_listeners.append(
        lambda arrival, payment, error: alerts.alert(
            f"unrecorded:{arrival.method}:{arrival.external_id}",
            unrecorded_alert(arrival, payment, error),
        )
    )
    http = aiohttp.ClientSession()
    token = settings.yoomoney_token
    yoomoney = YooMoneyChecker(
        YooMoneyClient(http, settings.ymoney_api_url, token) if token else None,
        payments,
        alerts,
        accepted_shortfall_percent=settings.ymoney_accepted_shortfall,
        pending_ttl=settings.payment_ttl_hours * 3600,
        late_window=settings.late_payment_days * DAY,
    )
    share_throttles(shared, alerts, promo, yoomoney)
    chat = ChatService(
        catalog,
        llm,
        storage,
        access,
        alerts,
        stats,
        ConversationService(storage, catalog, max_conversations=settings.max_conversations),
        quota,
        history_max_messages=settings.history_max_messages,
        usd_rub=settings.usd_rub_rate,
        **shared_chat_state(shared),
    )
    if books.sync.shared:
        chat.before_admission = books.sync.catch_up
    return Services(
        catalog=catalog,
        storage=storage,
        llm=llm,
        model_check=ModelCheck(catalog, llm, access, alerts, storage),
        alerts=alerts,
        access=access,
        users=UsersService(storage, lambda: llm.default_model().key, stats),
        chat=chat,
        subscriptions=subscriptions,
        promo=promo,
        payments=payments,
        yoomoney=yoomoney,
        http=http,
        stats=stats,
        broadcasts=broadcasts,
        retention=retention,
        quota=quota,
        referrals=referrals,
        voice=VoiceService(catalog, llm, chat.gate, stats, alerts, usd_rub=settings.usd_rub_rate),
        money_sync=books.sync,
        shared=shared,
    )


def share_throttles(
    shared: SharedState, alerts: AlertService, promo: PromoService, yoomoney: YooMoneyChecker
) -> None:
    """With Redis: the alerts' dedupe, promo wrong-guess throttle and "check payment"
    cooldown count for every process as one."""
    if shared.redis is None:
        return
    alerts.dedupe = RedisCooldown(shared, "alert", alerts.cooldown)
    promo.guesses = RedisWindow(shared, "promo-guesses", GUESS_WINDOW)
    yoomoney.check_cooldown = RedisCooldown(shared, "payment-check", CHECK_BUTTON_COOLDOWN)


def shared_chat_state(shared: SharedState) -> dict[str, Any]:
    """With Redis: the chat's queue, running answers and Retry memory there (and the event
    bus they hear each other on); without: ChatService's own, in memory."""
    if shared.redis is None:
        return {}
    bus = shared.bus = EventBus(shared)
    return {
        "inbox": RedisInbox(shared),
        "answers": RedisAnswers(shared, bus),
        "retries": RedisRetries(shared),
    }


def plans_in_use(money: MoneyState, now: float | None = None) -> dict[str, list[str]]:
    """Plan ids named by open invoices, active subscriptions and usable promo codes."""
    moment = time.time() if now is None else now
    counts: dict[str, dict[str, int]] = {}

    def count(plan_id: str, what: str) -> None:
        per_plan = counts.setdefault(plan_id, {})
        per_plan[what] = per_plan.get(what, 0) + 1

    for payment in money.payments:
        if payment.status in ("pending", "expired"):
            count(payment.plan_id, "open invoices")
    for subscription in money.subscriptions:
        if subscription.end > moment:
            count(subscription.plan_id, "active subscriptions")
    for promo in money.promo_codes:
        if not promo.disabled:
            count(promo.plan_id, "promo codes")
    for item in money.stars_subscriptions:
        if item.renews(moment):
            count(item.plan_id, "renewing Stars subscriptions")
    return {
        plan_id: [f"{number} {what}" for what, number in sorted(per_plan.items())]
        for plan_id, per_plan in counts.items()
    }


def unmatched_alert(item: UnmatchedMoney) -> str:
    """What admins read when money could not be credited (plain text)."""
    reasons = {
        "paid": "its invoice was already paid",
        "rejected": "its invoice was rejected",
        "refunded": "its invoice was refunded",
        "unknown": "no invoice of ours matches it",
        "plan_missing": "the invoice's plan is not in the catalog",
        "error": "crediting it failed",
    }
    who = f", user {item.user_id}" if item.user_id is not None else ""
    invoice = f", invoice {item.payment_id}" if item.payment_id else ""
    return (
        f"Money not credited: {item.amount:g} {item.currency} via {item.method} "
        f"({item.id}{invoice}{who}): {reasons.get(item.reason, item.reason)}. "
        f"Recorded; see /payments. {item.detail}"
    ).strip()


def unrecorded_alert(arrival: MoneyArrival, payment: Payment | None, error: str) -> str:
    """Money arrived and neither its credit nor its record could be written (a full disk):
    everything needed to credit it by hand, and what retries it by itself."""
    user = arrival.user_id if arrival.user_id is not None else (payment.user_id if payment else "?")
    retry = (
        "the Stars ledger is read again every few minutes and at start-up"
        if arrival.method == "stars"
        else "the next payment check reads it again"
    )
    return (
        f"Money arrived but could not be credited nor recorded: {arrival.amount:g} "
        f"{arrival.currency} via {arrival.method}, id {arrival.external_id}, user {user}, "
        f"invoice {arrival.reference or '-'} ({error}). It is credited by itself once the "
        f"storage can be written ({retry}); check the disk."
    )
