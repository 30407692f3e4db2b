"""SBP payment numbers: six digits a user types into the bank's comment, unique among live
payments (also across processes), found by the managers' commands, never matched to
money that arrives."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from services.catalog import Catalog
from services.money.payments import MoneyArrival, payment_ref
from services.money.payments import invoices as invoices_module
from tests.unit.conftest import open_money
from tests.unit.test_money_sync import Processes, two_processes

__all__ = ["two_processes"]  # the fixture, imported to be found


@pytest.fixture
def rigged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """new_payment_number draws from the list the test fills."""
    queue: list[str] = []
    monkeypatch.setattr(invoices_module, "new_payment_number", lambda digits=6: queue.pop(0))
    return queue


async def test_each_sbp_invoice_gets_six_digits_of_its_own(
    tmp_path: Path, catalog: Catalog
) -> None:
    money = await open_money(tmp_path, catalog)
    sbp = [await money.payments.open_invoice(user, "premium1", "sbp") for user in range(300)]
    numbers = [payment.number or "" for payment in sbp]
    assert all(re.fullmatch(r"[1-9][0-9]{5}", number) for number in numbers)
    assert len(set(numbers)) == len(numbers)
    assert [payment_ref(p) for p in sbp] == numbers
    stars = await money.payments.open_invoice(1, "premium1", "stars")
    assert stars.number is None and payment_ref(stars) == stars.id


async def test_a_number_a_live_payment_has_is_drawn_again(
    tmp_path: Path, catalog: Catalog, rigged: list[str]
) -> None:
    money = await open_money(tmp_path, catalog)
    rigged += ["111111", "111111", "222222"]
    first = await money.payments.open_invoice(1, "premium1", "sbp")
    second = await money.payments.open_invoice(2, "premium1", "sbp")
    assert (first.number, second.number) == ("111111", "222222")
    # Still taken after a restart: the number is on the payment record.
    again = await open_money(tmp_path, catalog)
    rigged += ["222222", "333333"]
    third = await again.payments.open_invoice(3, "premium1", "sbp")
    assert third.number == "333333"
    assert again.payments.resolve("111111") == first.id


async def test_managers_name_a_payment_by_its_number(tmp_path: Path, catalog: Catalog) -> None:
    money = await open_money(tmp_path, catalog)
    first = await money.payments.open_invoice(1, "gpt_pro", "sbp")
    second = await money.payments.open_invoice(2, "gpt_pro", "sbp")
    assert first.number is not None and second.number is not None
    found = await money.payments.find(f"№{first.number}")
    assert found is not None and found.id == first.id
    await money.payments.confirm(first.number, decided_by=99)
    rejected = await money.payments.reject(f" {second.number} ", reason="нет", decided_by=99)
    assert rejected.id == second.id
    assert money.payments.get(first.id).status == "paid"  # type: ignore[union-attr]
    assert money.payments.get(second.id).status == "rejected"  # type: ignore[union-attr]
    assert [a.plan.id for a in money.subscriptions.active_plans(1)] == ["gpt_pro"]
    assert money.payments.resolve("999999") == "999999"  # no such number: as written


async def test_money_that_names_a_number_is_not_credited_to_that_invoice(
    tmp_path: Path, catalog: Catalog
) -> None:
    """A YooMoney transfer whose label happens to be an SBP number is someone else's money."""
    money = await open_money(tmp_path, catalog)
    invoice = await money.payments.open_invoice(1, "premium1", "sbp")
    assert invoice.number is not None
    arrival = MoneyArrival("yoomoney", "op-1", 675.0, "RUB", invoice.number)
    outcome = await money.payments.accept(arrival)
    assert outcome.credit is None and outcome.unmatched is not None
    assert outcome.unmatched.payment_id is None
    assert money.payments.get(invoice.id).status == "pending"  # type: ignore[union-attr]


async def test_two_processes_never_give_one_number_twice(
    two_processes: Processes, rigged: list[str]
) -> None:
    first, second = await two_processes()
    rigged += ["111111", "111111", "222222"]
    one, other = await asyncio.gather(
        first.payments.open_invoice(1, "premium1", "sbp"),
        second.payments.open_invoice(2, "premium1", "sbp"),
    )
    assert {one.number, other.number} == {"111111", "222222"}
    for money in (first, second):
        await money.books.sync.catch_up()
        assert money.payments.resolve("111111") == (one if one.number == "111111" else other).id
