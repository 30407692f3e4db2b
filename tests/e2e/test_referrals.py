"""Referrals through the real bot process: /invite, a new user through the link, the
inviter's bonus for that user's first payment (once), and what does not count."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from edge.callbacks import AdminMenu, PayMethod, Section
from tests.e2e.conftest import ADMIN, StartBot, money_records
from tests.e2e.test_payments import buy, periods
from tests.stubs.telegram_server import FakeTelegram

INVITER = 700  # reads English
FRIEND = 701  # new, through the link
OLD = 702  # had started the bot before opening the link
STRANGER = 703  # an unknown code
SBP = {"SBP_DETAILS": "Т-Банк +7 900 000-00-00, Иван И."}


def referrals(data_dir: Path) -> dict[int, dict[str, object]]:
    return {int(raw["user_id"]): raw for raw in money_records(data_dir, "referrals")}


def bonus_periods(data_dir: Path, user_id: int) -> list[object]:
    return [p for p in periods(data_dir, user_id) if str(p["source"]).startswith("referral:")]


async def start(telegram: FakeTelegram, user_id: int, text: str = "/start") -> None:
    telegram.user_message(user_id, text)
    await telegram.wait_for_message(user_id, "Привет", after=telegram.last_id(user_id))


async def test_a_friend_through_the_link_rewards_the_inviter_once(
    telegram: FakeTelegram, start_bot: StartBot, data_dir: Path
) -> None:
    bot = await start_bot(SBP)
    telegram.user_message(INVITER, "/start", language_code="en")
    await telegram.wait_for_message(INVITER, "Hi")
    telegram.user_message(INVITER, "/invite", language_code="en")
    invite = await telegram.wait_for_message(INVITER, "Invite friends")
    found = re.search(r"https://t\.me/test_ai_bot\?start=(ref_[A-Za-z0-9_-]+)", invite.text)
    assert found is not None, invite.text
    argument = found.group(1)
    assert len(argument) <= 64 and "7 days of AI Group" in invite.text
    # A share button: Telegram's share dialog with the link and a line of invitation.
    [share] = invite.buttons()
    shared = urllib.parse.urlsplit(share["url"])
    assert (shared.scheme, shared.netloc, shared.path) == ("https", "t.me", "/share/url")
    query = urllib.parse.parse_qs(shared.query)
    assert query["url"] == [found.group(0)] and "AI" in query["text"][0]
    assert "Nobody has come through your link yet" in invite.text  # the zero state's offer
    telegram.user_message(INVITER, "/invite", language_code="en")  # the same link again
    again = await telegram.wait_for_message(INVITER, "Invite friends", after=invite.message_id)
    assert argument in again.text

    # Counted: a new user through the link. Not counted: the link used again, by its
    # owner, by a user who had started before, and an unknown code (a normal start).
    telegram.user_message(FRIEND, f"/start {argument}")
    greeted = await telegram.wait_for_message(FRIEND, "Привет")
    assert "по приглашению друга" in greeted.text  # greeted as invited
    joined = await telegram.wait_for_message(INVITER, "A friend came through your link")
    assert "Test" in joined.text and "7 days of AI Group" in joined.text
    await start(telegram, FRIEND, f"/start {argument}")
    again_greeted = telegram.messages(FRIEND)[-1]
    assert "по приглашению" not in again_greeted.text  # only the first time
    telegram.user_message(INVITER, f"/start {argument}", language_code="en")
    await telegram.wait_for_message(INVITER, "Hi", after=again.message_id)
    await start(telegram, OLD)
    await start(telegram, OLD, f"/start {argument}")
    await start(telegram, STRANGER, "/start ref_NoSuchCode42")
    assert list(referrals(data_dir)) == [FRIEND]
    assert referrals(data_dir)[FRIEND]["inviter_id"] == INVITER

    # The friend's first payment (SBP, confirmed by an admin) rewards the inviter.
    await buy(telegram, FRIEND, "premium1", PayMethod.SBP)
    [first] = [p["id"] for p in money_records(data_dir, "payments") if p["user_id"] == FRIEND]
    telegram.user_message(ADMIN, f"/confirm {first}")
    await telegram.wait_for_message(FRIEND, "Оплата получена")
    told = await telegram.wait_for_message(INVITER, "A friend you invited has paid")
    assert "7 days of AI Group" in told.text
    assert len(bonus_periods(data_dir, INVITER)) == 1
    assert referrals(data_dir)[FRIEND]["payment_id"] == first

    # A second payment of the friend (Stars), and payments of users nobody invited.
    invoice = await buy(telegram, FRIEND, "power_group", PayMethod.STARS)
    telegram.successful_payment(FRIEND, invoice.extra["payload"], 580, "charge-friend-2")
    await telegram.wait_for_message(FRIEND, "Оплата получена", after=invoice.message_id)
    invoice = await buy(telegram, OLD, "power_group", PayMethod.STARS)
    telegram.successful_payment(OLD, invoice.extra["payload"], 580, "charge-old-1")
    await telegram.wait_for_message(OLD, "Оплата получена")
    await telegram.wait_idle(INVITER, quiet=0.5)

    # A restart changes nothing; /profile shows the counts, /stats the top inviters.
    bot.kill()
    await bot.wait()
    await start_bot(SBP)
    telegram.user_message(INVITER, "/profile", language_code="en")
    profile = await telegram.wait_for_message(INVITER, "Profile", after=telegram.last_id(INVITER))
    assert "You invited 1 friend; a bonus came for 1 friend who paid" in profile.text
    assert "AI Group" in profile.text  # the bonus plan is on
    telegram.user_message(FRIEND, "/profile")
    profile = await telegram.wait_for_message(FRIEND, "Профиль", after=telegram.last_id(FRIEND))
    assert "Пригласите друзей — за первую оплату каждого вы получите бонус" in profile.text
    assert "0 приглашённых" not in profile.text
    telegram.user_message(ADMIN, "/stats")
    report = await telegram.wait_for_message(ADMIN, "Статистика")
    telegram.press(ADMIN, report, AdminMenu(section=Section.TOP_INVITERS))
    top = await telegram.wait_for_message(ADMIN, "Лучшие пригласившие")
    assert f"({INVITER}): 1 · 1" in top.text

    told_count = sum("A friend you invited" in m.text for m in telegram.messages(INVITER))
    assert told_count == 1
    joined_count = sum("came through your link" in m.text for m in telegram.messages(INVITER))
    assert joined_count == 1  # told once: the other starts counted nobody
    assert len(bonus_periods(data_dir, INVITER)) == 1
    assert bonus_periods(data_dir, OLD) == [] and bonus_periods(data_dir, FRIEND) == []
