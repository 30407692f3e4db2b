"""Reads Telegram's Stars ledger at start-up and every STARS_LEDGER_INTERVAL seconds
(sooner after a payment whose credit failed), crediting what was missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import StarTransaction, TransactionPartnerUser

from config import Settings
from runtime.tasks import BackgroundTasks
from services.container import Services
from services.money.stars_ledger import LedgerPayment, Page, StarsLedger

logger = logging.getLogger(__name__)

RETRY_SOON = 30.0  # seconds from a failed credit to the next read


def ledger_payment(transaction: StarTransaction) -> LedgerPayment | None:
    """An incoming payment for an invoice of ours; None for anything else (refunds...)."""
    source = transaction.source
    if not isinstance(source, TransactionPartnerUser) or source.invoice_payload is None:
        return None
    return LedgerPayment(
        charge_id=transaction.id,
        user_id=source.user.id,
        amount=transaction.amount,
        payload=source.invoice_payload,
        date=transaction.date.timestamp(),
        subscription_period=source.subscription_period,
    )


async def ledger_loop(bot: Bot, services: Services, ledger: StarsLedger, interval: float) -> None:
    async def fetch(offset: int, limit: int) -> Page:
        answer = await bot.get_star_transactions(offset=offset, limit=limit)
        return [ledger_payment(item) for item in answer.transactions]

    failed = services.payments.arrival_failed
    while True:
        failed.clear()
        try:
            credited = await ledger.reconcile(fetch)
        except TelegramAPIError as error:
            logger.warning("Stars ledger not read (%s); next try later", error)
        except Exception as error:
            logger.exception("Stars ledger check crashed")
            await services.alerts.alert("stars-ledger", f"Stars ledger check crashed: {error!r}")
        else:
            if credited:
                logger.warning("Stars ledger: %d missed payment(s) credited", credited)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(failed.wait(), interval)
            await asyncio.sleep(min(RETRY_SOON, interval))  # a credit just failed


def setup(tasks: BackgroundTasks, services: Services, settings: Settings) -> None:
    interval = settings.stars_ledger_interval
    if interval <= 0:
        return
    ledger = StarsLedger(services.payments, services.storage)
    tasks.add(
        "stars-ledger", lambda bot: ledger_loop(bot, services, ledger, interval), singleton=True
    )
