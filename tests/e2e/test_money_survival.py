"""Money that survives a full disk, a flaky Telegram and a bot killed mid-refund, through
the real bot process: a Stars payment whose credit cannot be written is credited once
the disk has room (after a restart too), a refund whose Telegram calls fail is finished
by the outbox, an SBP invoice reaches the managers once, and a refund takes back the
referral bonus its payment earned."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.callbacks import PayMethod, SbpAct, SbpPaid, SbpStep
from services.money.payments import charge_payment_id
from tests.e2e.conftest import ADMIN, BotProcess, StartBot, money_records
from tests.e2e.test_payments import buy, label_of, payments_file, periods, yoomoney_env
from tests.e2e.test_referrals import INVITER, bonus_periods
from tests.e2e.test_stars_subscription import USER as SUBSCRIBER
from tests.e2e.test_stars_subscription import subscribe
from tests.factories import callback_prefix
from tests.stubs.telegram_server import FakeTelegram
from tests.stubs.yoomoney_server import FakeYooMoney

USER = 980
FRIEND = 981
SBP = {"SBP_DETAILS": "Т-Банк +7 900 000-00-00, Иван И."}


@pytest.fixture
def small_disk(data_dir: Path) -> Iterator[Path]:
    """DATA_DIR on a 4 MB tmpfs of its own, so a test can fill it as a disk fills up."""
    data_dir.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {mounted.stderr.strip()}")
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(data_dir)], check=False)


def fill(disk: Path) -> Path:
    """Write a ballast file until the disk has no byte left; returns it."""
    ballast = disk / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return ballast


async def restart_on_a_full_disk(
    bot: BotProcess, start_bot: StartBot, disk: Path, env: dict[str, str | None]
) -> BotProcess:
    """Kill the bot, fill its disk and start it again: every money write now needs room
    the disk does not have (a fresh journal file each start; tmpfs counts whole pages)."""
    bot.kill()
    await bot.process.wait()
    fill(disk)
    return await start_bot(env)


async def test_a_stars_payment_on_a_full_disk_is_credited_once_there_is_room_after_a_restart(
    telegram: FakeTelegram, start_bot: StartBot, small_disk: Path
) -> None:
    bot = await start_bot({"STARS_LEDGER_INTERVAL": "1"})
    invoice = await buy(telegram, USER, "power_group", PayMethod.STARS)
    payload = invoice.extra["payload"]
    bot = await restart_on_a_full_disk(bot, start_bot, small_disk, {"STARS_LEDGER_INTERVAL": "1"})
    paid = telegram.successful_payment(USER, payload, 580, "charge-full-disk")
    delayed = await telegram.wait_for_message(USER, "не удалось включить сразу")
    alert = await telegram.wait_for_message(ADMIN, "charge-full-disk")
    assert str(USER) in alert.text and payload in alert.text  # who paid, for which invoice
    assert "Оплата получена!" not in " ".join(m.text for m in telegram.messages(USER))

    bot.kill()  # the update is gone with the process; the disk gets room meanwhile
    await bot.process.wait()
    (small_disk / "ballast").unlink()
    await start_bot({"STARS_LEDGER_INTERVAL": "1"})
    await telegram.wait_for_message(USER, "Оплата получена!", after=delayed.message_id)
    assert payments_file(small_disk)[payload]["status"] == "paid"
    assert payments_file(small_disk)[payload]["charge_id"] == "charge-full-disk"
    assert len(periods(small_disk, USER)) == 1

    again = telegram.repeat_update(paid)  # the same payment delivered again: nothing more
    await telegram.wait_for(lambda: telegram.confirmed(again) or None)
    await telegram.wait_idle(USER, quiet=1.5)  # the ledger is read again meanwhile, too
    assert len(periods(small_disk, USER)) == 1
    assert sum("Оплата получена!" in m.text for m in telegram.messages(USER)) == 1


async def test_a_yoomoney_credit_that_fails_on_a_full_disk_is_made_by_the_next_check(
    telegram: FakeTelegram, start_bot: StartBot, small_disk: Path, yoomoney: FakeYooMoney
) -> None:
    bot = await start_bot(yoomoney_env(yoomoney, interval="0.5"))
    label = label_of(await buy(telegram, USER, "premium1", PayMethod.YOOMONEY))
    await restart_on_a_full_disk(bot, start_bot, small_disk, yoomoney_env(yoomoney, "0.5"))
    yoomoney.add("op-full-disk", 675.0, label)
    alert = await telegram.wait_for_message(ADMIN, "op-full-disk")
    assert "could not be credited nor recorded" in alert.text and label in alert.text
    await asyncio.sleep(1.5)  # checks that fail again do not alert again, nor credit
    assert sum("op-full-disk" in m.text for m in telegram.messages(ADMIN)) == 1
    (small_disk / "ballast").unlink()
    await telegram.wait_for_message(USER, "Оплата получена!", timeout=20)
    assert payments_file(small_disk)[label]["status"] == "paid"
    assert [r for r in money_records(small_disk, "unmatched_money") if not r["resolved_at"]] == []
    assert len(periods(small_disk, USER)) == 1


async def test_a_refund_while_telegram_answers_502_and_429_is_finished_by_the_outbox(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    await subscribe(telegram, data_dir)
    telegram.renew_star_subscription("charge-first", "charge-renewal-1")
    await telegram.wait_for_message(SUBSCRIBER, "Подписка за звёзды продлена")
    telegram.fail_next("editUserStarSubscription", 502, "Bad Gateway")
    telegram.fail_next(
        "editUserStarSubscription", 429, "Too Many Requests: retry after 1", retry_after=1
    )

    telegram.user_message(ADMIN, f"/refund {charge_payment_id('charge-renewal-1')}")
    answer = await telegram.wait_for_message(ADMIN, "Stars возвращены")
    assert "повторит сам" in answer.text  # the cancel failed; it is not forgotten
    await telegram.wait_for(
        lambda: telegram.star_subscriptions["charge-first"]["canceled"] or None, timeout=30
    )
    await telegram.wait_for_message(ADMIN, "Done after 3 tries", timeout=10)
    (record,) = money_records(data_dir, "stars_subscriptions")
    assert record["canceled"] is True and record["refunded_at"] is not None
    assert len(telegram.refunds) == 1 and len(telegram.subscription_edits) == 1
    told = [m for m in telegram.messages(SUBSCRIBER) if "возвращена" in m.text]
    assert len(told) == 1


async def test_a_refund_the_bot_died_during_is_recorded_after_the_restart(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    bot = await start_bot()
    invoice = await buy(telegram, USER, "power_group", PayMethod.STARS)
    payload = invoice.extra["payload"]
    telegram.successful_payment(USER, payload, 580, "charge-to-refund")
    await telegram.wait_for_message(USER, "Оплата получена!")
    telegram.answer_delay["refundstarpayment"] = 60  # Telegram refunds, its answer is slow
    telegram.user_message(ADMIN, f"/refund {payload}")
    await telegram.wait_for(lambda: telegram.refunds or None)
    bot.kill()  # before the answer: the refund happened, nothing recorded it yet
    await bot.process.wait()
    assert payments_file(data_dir)[payload]["status"] == "paid"

    del telegram.answer_delay["refundstarpayment"]
    await start_bot()
    await telegram.wait_for_message(USER, "возвращена", timeout=20)
    assert payments_file(data_dir)[payload]["status"] == "refunded"
    ends = [float(str(period["end"])) for period in periods(data_dir, USER)]
    assert max(ends) <= time.time() + 1  # the period taken back
    assert len(telegram.refunds) == 1  # the retry found it done (CHARGE_ALREADY_REFUNDED)


async def test_one_sbp_invoice_reaches_the_managers_once_however_often_it_is_pressed(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot(SBP)
    request = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)
    telegram.user_photo(USER, caption="чек")
    question = await telegram.wait_for_message(USER, "Это чек об оплате")
    yes = question.data_starting(callback_prefix(SbpStep, action=SbpAct.YES))
    telegram.press(USER, question, yes)
    telegram.press(USER, question, yes)  # a double tap
    await telegram.wait_for_message(USER, "передан менеджеру")
    for _ in range(3):  # the SBP button again shows the same invoice; a photo after it
        again = await buy(telegram, USER, "gpt_pro", PayMethod.SBP)  # is no second receipt
        assert request.text.split("\n")[0] == again.text.split("\n")[0]
        telegram.user_photo(USER, caption="ещё чек")
        await telegram.wait_idle(USER, quiet=0.3)
    receipt = request.data_starting(callback_prefix(SbpStep, action=SbpAct.SEND_RECEIPT))
    pressed = telegram.press(USER, request, receipt)  # "Send receipt": already with the manager
    answer = await telegram.wait_for(lambda: telegram.callback_answer(pressed))
    assert "уже на проверке" in answer["text"]
    for _ in range(3):  # "I have paid", pressed again and again
        telegram.press(USER, request, request.data_starting(callback_prefix(SbpPaid)))
        await telegram.wait_for_message(USER, "уже на проверке", after=telegram.last_id(USER))
    await telegram.wait_idle(USER, quiet=0.5)
    await telegram.wait_idle(ADMIN, quiet=0.3)
    copies = [m for m in telegram.messages(ADMIN) if m.kind == "copy"]
    requests = [m for m in telegram.messages(ADMIN) if "СБП: проверьте оплату" in m.text]
    assert (len(copies), len(requests)) == (1, 1)
    (payment,) = payments_file(data_dir).values()
    assert payment["receipts"] == 1 and payment["status"] == "pending"


async def test_a_refund_takes_back_the_bonus_the_refunded_payment_earned(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    telegram.user_message(INVITER, "/invite", language_code="en")
    invite = await telegram.wait_for_message(INVITER, "Invite friends")
    found = re.search(r"start=(ref_[A-Za-z0-9_-]+)", invite.text)
    assert found is not None
    telegram.user_message(FRIEND, f"/start {found.group(1)}")
    await telegram.wait_for_message(FRIEND, "Привет")
    invoice = await buy(telegram, FRIEND, "power_group", PayMethod.STARS)
    telegram.successful_payment(FRIEND, invoice.extra["payload"], 580, "charge-friend")
    await telegram.wait_for_message(INVITER, "A friend you invited has paid")
    (bonus,) = bonus_periods(data_dir, INVITER)
    assert isinstance(bonus, dict) and bonus["end"] > time.time() + 6 * 86400

    telegram.user_message(ADMIN, f"/refund {invoice.extra['payload']}")
    await telegram.wait_for_message(ADMIN, "Stars возвращены")
    ends = [float(str(period["end"])) for period in periods(data_dir, INVITER)]
    assert ends and max(ends) <= time.time() + 1  # the bonus days are gone
    telegram.user_message(INVITER, "/profile", language_code="en")
    profile = await telegram.wait_for_message(INVITER, "Profile", after=invite.message_id)
    assert "You invited 1 friend; a bonus came for 0 friends who paid" in profile.text
