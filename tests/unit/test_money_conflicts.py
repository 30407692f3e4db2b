"""A store's ConflictError (a money rule another writer got to first) is the refusal it
is: the services refuse the action as their own checks would, their memory is put back,
and the next try works."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import Catalog
from services.money.payments import MoneyArrival, PaymentError, PaymentRefusal
from services.money.promo import PromoError
from services.money.referrals import START_PREFIX
from services.storage.base import ConflictError, MoneyRule, Storage, Transaction
from tests.unit.conftest import open_money
from tests.unit.test_referrals import FRIEND, INVITER, start

USER = 800


class Conflicts:
    """A storage whose next commit raises ConflictError(rule), as a database's unique
    or check constraint would: nothing of that transaction is written."""

    def __init__(self, storage: Storage) -> None:
        self.rule: MoneyRule | None = None
        self.refused: list[Transaction] = []
        real = storage.commit

        async def commit(transaction: Transaction) -> None:
            rule, self.rule = self.rule, None
            if rule is not None:
                self.refused.append(transaction)
                raise ConflictError(rule, "another writer")
            await real(transaction)

        storage.commit = commit  # type: ignore[method-assign]


async def test_an_invoice_the_store_refuses_is_a_payment_refusal_and_leaves_nothing(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    store = Conflicts(money.storage)
    store.rule = MoneyRule.ONE_OPEN_INVOICE
    with pytest.raises(PaymentError) as refused:
        await money.payments.open_invoice(USER, "premium1", "yoomoney")
    assert (refused.value.reason, refused.value.rule) == (
        PaymentRefusal.CONFLICT,
        MoneyRule.ONE_OPEN_INVOICE,
    )
    assert money.payments.live() == [] and len(store.refused) == 1
    invoice = await money.payments.open_invoice(USER, "premium1", "yoomoney")  # pressed again
    restarted = await open_money(tmp_path, catalog)
    assert [payment.id for payment in restarted.payments.live()] == [invoice.id]


async def test_a_credit_the_store_refuses_grants_nothing_and_can_be_confirmed_again(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    invoice = await money.payments.open_invoice(USER, "premium1", "sbp")
    store = Conflicts(money.storage)
    store.rule = MoneyRule.STATUS_FORWARD
    with pytest.raises(PaymentError) as refused:
        await money.payments.confirm(invoice.id, decided_by=1)
    assert refused.value.reason is PaymentRefusal.CONFLICT
    assert refused.value.rule is MoneyRule.STATUS_FORWARD
    assert money.payments.get(invoice.id).status == "pending"  # type: ignore[union-attr]
    assert money.subscriptions.active_plans(USER) == []  # no period without the payment
    assert money.payments.outbox.pending() == []  # nor its notice
    credit = await money.payments.confirm(invoice.id, decided_by=1)
    assert credit.newly_paid and money.subscriptions.active_plans(USER)


async def test_money_whose_credit_the_store_refuses_is_recorded_not_lost(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    invoice = await money.payments.open_invoice(USER, "premium1", "stars")
    store = Conflicts(money.storage)
    store.rule = MoneyRule.STATUS_FORWARD
    arrival = MoneyArrival("stars", "charge-9", invoice.amount, "XTR", invoice.id, USER)
    outcome = await money.payments.accept_or_record(arrival)
    assert outcome.error is not None and "status_forward" in outcome.error
    (record,) = money.payments.unmatched()
    assert (record.id, record.reason, record.payment_id) == ("stars:charge-9", "error", invoice.id)
    again = await money.payments.accept_or_record(arrival)  # the Stars ledger reads it again
    assert again.credit is not None and again.credit.newly_paid
    assert money.payments.unmatched() == []  # settled in the credit's commit


async def test_an_activation_the_store_refuses_is_the_promo_refusal(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    await money.promo.create("SPRING", "premium1", 7, created_by=1, max_uses=1)
    store = Conflicts(money.storage)
    store.rule = MoneyRule.PROMO_MAX_USES  # another process took the last use
    with pytest.raises(PromoError) as refused:
        await money.promo.activate(USER, "SPRING")
    assert refused.value.reason == "used_up"
    assert money.promo.uses("SPRING") == 0 and money.subscriptions.active_plans(USER) == []
    store.rule = MoneyRule.PROMO_ONCE_PER_USER
    with pytest.raises(PromoError) as again:
        await money.promo.activate(USER, "SPRING")
    assert again.value.reason == "already_used"


async def test_an_invitation_the_store_refuses_records_nothing(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await start(tmp_path, catalog)
    code = await bot.referrals.code_for(INVITER)
    store = Conflicts(bot.money.storage)
    store.rule = MoneyRule.INVITED_ONCE
    argument = f"{START_PREFIX}{code}"
    assert await bot.referrals.arrive(FRIEND, argument, first_visit=True) is None
    assert bot.referrals.counts(INVITER) == (0, 0) and len(store.refused) == 1
    assert await bot.referrals.arrive(FRIEND, argument, first_visit=True) is not None
