"""Builds every service once at start-up and closes them at shutdown."""

from __future__ import annotations

import os
from dataclasses import dataclass

import aiohttp

from config import PROVIDER_NAMES, Settings
from services.access import AccessService
from services.alerts import AlertService
from services.broadcast import BroadcastService
from services.catalog import Catalog
from services.chat import ChatService
from services.llm import LLMGateway, ProviderConfig
from services.payments import PaymentService
from services.promo import PromoService
from services.stats import StatsService
from services.storage.base import Storage
from services.storage.json_store import JsonStorage
from services.subscriptions import SubscriptionService
from services.users import UsersService
from services.yoomoney import YooMoneyChecker, YooMoneyClient


@dataclass(slots=True)
class Services:
    catalog: Catalog
    storage: Storage
    llm: LLMGateway
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

    def as_workflow_data(self) -> dict[str, object]:
        """What handlers can ask for by parameter name."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    async def close(self) -> None:
        await self.stats.flush()
        await self.http.close()
        await self.llm.close()
        await self.storage.close()


def provider_configs(settings: Settings, catalog: Catalog) -> dict[str, ProviderConfig]:
    """Base URL (setting or the catalog's default) and key for each catalog provider."""
    configs = {}
    for name, provider in catalog.providers.items():
        if name in PROVIDER_NAMES:
            base_url, api_key = settings.provider_base_url(name), settings.provider_key(name)
        else:  # a provider added in the catalog only: read its settings from the environment
            prefix = name.upper()
            base_url = os.environ.get(f"{prefix}_BASE_URL")
            api_key = os.environ.get(f"{prefix}_API_KEY")
        base_url = base_url or provider.base_url
        configs[name] = ProviderConfig(base_url=base_url, api_key=api_key)
    return configs


async def create_services(settings: Settings, catalog: Catalog) -> Services:
    storage = JsonStorage(settings.data_dir)
    await storage.open()
    llm = LLMGateway(catalog, provider_configs(settings, catalog), settings.request_timeout)
    alerts = AlertService()
    storage.write_error_listeners.append(lambda text: alerts.alert("storage", text))
    stats = StatsService(settings.data_dir, settings.zone)
    await stats.load()
    subscriptions = SubscriptionService(storage, catalog)
    await subscriptions.load()
    promo = PromoService(storage, subscriptions, settings.zone)
    await promo.load()
    access = AccessService(catalog, subscriptions)
    broadcasts = BroadcastService(settings.data_dir, rate=settings.broadcast_rate)
    await broadcasts.open()
    payments = PaymentService(storage, catalog, subscriptions)
    await payments.load()
    http = aiohttp.ClientSession()
    token = settings.yoomoney_token
    yoomoney = YooMoneyChecker(
        YooMoneyClient(http, settings.ymoney_api_url, token) if token else None,
        payments,
        alerts,
        accepted_shortfall_percent=settings.ymoney_accepted_shortfall,
        pending_ttl=settings.payment_ttl_hours * 3600,
        late_window=settings.late_payment_days * 86400,
    )
    return Services(
        catalog=catalog,
        storage=storage,
        llm=llm,
        alerts=alerts,
        access=access,
        users=UsersService(storage, llm.default_model().key, stats),
        chat=ChatService(
            catalog,
            llm,
            storage,
            access,
            alerts,
            stats,
            history_max_messages=settings.history_max_messages,
        ),
        subscriptions=subscriptions,
        promo=promo,
        payments=payments,
        yoomoney=yoomoney,
        http=http,
        stats=stats,
        broadcasts=broadcasts,
    )
