"""Refunds (/refund: a Stars payment, or Stars not credited) through the outbox, and
/settle for money that was not credited."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from edge.outbox import OutboxWorker, Outcome, RunResult
from services.money.payments import PaymentError, PaymentRefusal, PaymentService
from services.operator.admin_input import echo
from texts import Texts

router = Router(name=__name__)


async def refund_payment(
    payment_id: str,
    admin_id: int,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    worker: OutboxWorker,
) -> str:
    """Return a Stars payment and take its unused period back: the request is saved
    first, then done now through the outbox (retried there if Telegram fails)."""
    payment = await payments.find(payment_id)
    if payment is None:
        return texts("pay_not_found")
    try:
        item = await payments.request_refund(payment.id, decided_by=admin_id)
    except PaymentError as error:
        if error.reason is PaymentRefusal.ONLY_STARS:
            return texts("admin_refund_only_stars")
        if error.reason is PaymentRefusal.IN_PROGRESS:
            return texts("admin_refund_in_progress", payment_id=payment.id)
        return texts(
            "admin_already_decided",
            payment_id=payment.id,
            status=texts(f"admin_status_{payment.status}"),
        )
    return refund_outcome(await worker.run(bot, item.id), payment.id, texts)


async def refund_unmatched(
    money_id: str,
    admin_id: int,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    worker: OutboxWorker,
) -> str:
    """Return Stars that arrived for no open invoice (once; through the outbox)."""
    try:
        item = await payments.request_unmatched_refund(money_id, decided_by=admin_id)
    except PaymentError as error:
        if error.reason is PaymentRefusal.IN_PROGRESS:
            return texts("admin_refund_in_progress", payment_id=money_id)
        return texts("admin_settle_unknown", money_id=money_id)
    result = await worker.run(bot, item.id)
    if result is not None and result.outcome is Outcome.DONE:
        return texts("admin_settled", money_id=money_id)
    return refund_outcome(result, money_id, texts)


def refund_outcome(result: RunResult | None, payment_id: str, texts: Texts) -> str:
    """What the admin reads after a refund's first try, with its renewal's cancel."""
    if result is None:  # done meanwhile by the background worker
        return texts("admin_refunded", payment_id=payment_id)
    if result.outcome is Outcome.FAILED:
        return texts("admin_refund_failed", error=result.error or "")
    if result.outcome is Outcome.RETRYING:
        return texts("admin_refund_retrying", error=result.error or "")
    lines = [texts("admin_refunded", payment_id=payment_id)]
    for follow_up in result.follow_ups:
        if follow_up.item.kind != "cancel_renewal":
            continue
        key = {
            Outcome.DONE: "admin_refund_renewal_stopped",
            Outcome.RETRYING: "admin_refund_renewal_retrying",
            Outcome.FAILED: "admin_refund_renewal_failed",
        }[follow_up.outcome]
        lines.append(texts(key, error=follow_up.error or ""))
    return "\n".join(lines)


@router.message(Command("refund"))
async def refund_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    texts: Texts,
    payments: PaymentService,
    outbox_worker: OutboxWorker,
) -> None:
    """/refund PAYMENT_ID, or /refund stars:CHARGE for Stars listed as not credited."""
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(texts("admin_payment_usage", command="refund"))
        return
    admin_id = message.from_user.id if message.from_user else 0
    if args[0].startswith("stars:"):
        text = await refund_unmatched(args[0], admin_id, bot, texts, payments, outbox_worker)
    else:
        text = await refund_payment(args[0], admin_id, bot, texts, payments, outbox_worker)
    await message.answer(text)


@router.message(Command("settle"))
async def settle_command(
    message: Message, command: CommandObject, texts: Texts, payments: PaymentService
) -> None:
    """/settle ID: mark money that was not credited as handled."""
    money_id = (command.args or "").strip()
    if not money_id:
        await message.answer(texts("admin_settle_usage"))
        return
    admin_id = message.from_user.id if message.from_user else 0
    try:
        await payments.resolve_unmatched(money_id, decided_by=admin_id)
    except PaymentError:
        await message.answer(texts("admin_settle_unknown", money_id=echo(money_id)))
        return
    await message.answer(texts("admin_settled", money_id=money_id))
