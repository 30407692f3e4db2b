"""Referrals: codes, who may be invited, and the inviter's bonus granted exactly once."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from edge.views import bonus_text
from services.catalog import Catalog, CatalogError, ReferralBonus, load_catalog
from services.limits.access import AccessService
from services.limits.quota import QuotaExceededError, QuotaService
from services.models import Payment, Referral
from services.money.referrals import (
    SOURCE_PREFIX,
    START_PREFIX,
    ReferralService,
    Reward,
    code_from_start,
    invite_link,
)
from services.money.subscriptions import DAY
from services.operator.stats import StatsService
from services.storage.journal import journal_numbers, journal_path
from services.storage.json_store import read_live_records
from tests.unit.conftest import ROOT, Money, open_money
from tests.unit.test_stars_subscriptions import charge
from texts import get_texts

INVITER, FRIEND, OTHER = 100, 200, 300
MSK = ZoneInfo("Europe/Moscow")


class Bot:
    """The money services, the referral service over them, and the bonuses told."""

    def __init__(self, money: Money, referrals: ReferralService) -> None:
        self.money = money
        self.referrals = referrals
        self.told: list[Reward] = []

    async def paid(self, user_id: int, plan_id: str = "premium1") -> Payment:
        """An SBP invoice of the user, confirmed by an admin."""
        payment = await self.money.payments.open_invoice(user_id, plan_id, "sbp")
        await self.money.payments.confirm(payment.id, decided_by=1)
        return payment

    def bonus_periods(self, user_id: int) -> list[str]:
        return [
            period.source
            for subscription in self.money.subscriptions.subscriptions()
            if subscription.user_id == user_id
            for period in subscription.periods
            if period.source.startswith(SOURCE_PREFIX)
        ]


async def start(data_dir: Path, catalog: Catalog) -> Bot:
    """As at start-up (a restart each call)."""
    money = await open_money(data_dir, catalog)
    state = await money.storage.load_money()
    referrals = ReferralService(money.storage, money.subscriptions, catalog)
    referrals.load(state.referral_codes, state.referrals)
    money.payments.credit_rules.append(referrals.stage_reward)
    money.payments.credit_listeners.append(referrals.on_credit)
    bot = Bot(money, referrals)

    async def tell(reward: Reward) -> None:
        bot.told.append(reward)

    referrals.reward_listeners.append(tell)
    return bot


async def invited_friend(tmp_path: Path, catalog: Catalog) -> Bot:
    bot = await start(tmp_path, catalog)
    code = await bot.referrals.code_for(INVITER)
    assert await bot.referrals.arrive(FRIEND, START_PREFIX + code, first_visit=True)
    return bot


def referrals_on_disk(data_dir: Path) -> dict[str, dict[str, object]]:
    return read_live_records(data_dir)["referrals"]


# Codes -------------------------------------------------------------------------------------
async def test_a_code_is_short_random_stable_and_survives_a_restart(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await start(tmp_path, catalog)
    first, again, other = await asyncio.gather(
        bot.referrals.code_for(INVITER),
        bot.referrals.code_for(INVITER),  # a double tap: the same code, one record
        bot.referrals.code_for(OTHER),
    )
    assert first == again != other
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,16}", first)
    link = invite_link("test_ai_bot", first)
    assert link == f"https://t.me/test_ai_bot?start=ref_{first}"
    assert len(link.partition("start=")[2]) <= 64
    assert code_from_start(link.partition("start=")[2]) == first
    await bot.money.storage.close()

    codes = read_live_records(tmp_path)["referral_codes"]
    assert {raw["user_id"]: raw["code"] for raw in codes.values()} == {
        INVITER: first,
        OTHER: other,
    }
    restarted = await start(tmp_path, catalog)
    assert await restarted.referrals.code_for(INVITER) == first
    assert restarted.referrals.owner_of(first) == INVITER


@pytest.mark.parametrize(
    "argument", [None, "", "ref_", "ref_bad code", "ref_" + "x" * 61, "promo_X", "REF_abc"]
)
def test_start_arguments_that_are_no_invite(argument: str | None) -> None:
    assert code_from_start(argument) is None


# Who may be invited --------------------------------------------------------------------------
async def test_only_a_new_user_with_another_users_known_code_is_recorded(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await start(tmp_path, catalog)
    code = START_PREFIX + await bot.referrals.code_for(INVITER)
    arrive = bot.referrals.arrive

    assert await arrive(OTHER, "ref_unknownCode1", first_visit=True) is None  # unknown
    assert await arrive(OTHER, "hello", first_visit=True) is None  # no invite at all
    assert await arrive(INVITER, code, first_visit=True) is None  # one's own link
    assert await arrive(OTHER, code, first_visit=False) is None  # had started before
    referral = await arrive(FRIEND, code, first_visit=True)
    assert referral is not None and (referral.user_id, referral.inviter_id) == (FRIEND, INVITER)
    assert await arrive(FRIEND, code, first_visit=True) is None  # the same link again
    other_code = START_PREFIX + await bot.referrals.code_for(OTHER)
    assert await arrive(FRIEND, other_code, first_visit=True) is None  # invited once only

    assert bot.referrals.counts(INVITER) == (1, 0)
    assert bot.referrals.counts(OTHER) == (0, 0)
    await bot.money.storage.close()
    on_disk = referrals_on_disk(tmp_path)
    assert list(on_disk) == [str(FRIEND)]
    assert on_disk[str(FRIEND)]["inviter_id"] == INVITER


async def test_the_same_link_opened_twice_at_once_records_one_invitation(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await start(tmp_path, catalog)
    code = START_PREFIX + await bot.referrals.code_for(INVITER)
    results = await asyncio.gather(
        bot.referrals.arrive(FRIEND, code, first_visit=True),
        bot.referrals.arrive(FRIEND, code, first_visit=True),
    )
    assert sum(result is not None for result in results) == 1
    assert bot.referrals.counts(INVITER) == (1, 0)


# The bonus -----------------------------------------------------------------------------------
async def test_the_first_payment_rewards_the_inviter_once_in_the_same_transaction(
    tmp_path: Path, catalog: Catalog
) -> None:
    bonus = catalog.referral
    assert bonus is not None
    bot = await invited_friend(tmp_path, catalog)
    payment = await bot.paid(FRIEND)

    assert bot.bonus_periods(INVITER) == [f"{SOURCE_PREFIX}{FRIEND}"]
    [reward] = bot.told
    assert reward.plan is not None
    assert (reward.inviter_id, reward.invited_id, reward.plan.id, reward.days) == (
        INVITER,
        FRIEND,
        bonus.plan,
        bonus.days,
    )
    [active] = bot.money.subscriptions.active_plans(INVITER)
    assert active.plan.id == bonus.plan and active.end == reward.end
    assert reward.end - (payment.created_at + bonus.days * DAY) < 60
    assert bot.referrals.counts(INVITER) == (1, 1)

    # The payment, both periods and the referral's reward are one journal line.
    lines = [
        orjson.loads(line)
        for number in journal_numbers(tmp_path / "journal")
        for line in journal_path(tmp_path / "journal", number).read_bytes().splitlines()
    ]
    credit = next(
        line for line in lines if "referrals" in line["put"] and "payments" in line["put"]
    )
    assert credit["put"]["referrals"][0]["payment_id"] == payment.id
    assert {s["user_id"] for s in credit["put"]["subscriptions"]} == {FRIEND, INVITER}
    assert credit["put"]["payments"][0]["status"] == "paid"

    await bot.paid(FRIEND, "ai_group")  # a second payment: nothing more
    assert len(bot.told) == 1 and len(bot.bonus_periods(INVITER)) == 1
    await bot.money.storage.close()

    restarted = await start(tmp_path, catalog)  # a restart: still rewarded, once
    assert restarted.referrals.counts(INVITER) == (1, 1)
    await restarted.paid(FRIEND, "power_group")
    assert restarted.told == [] and len(restarted.bonus_periods(INVITER)) == 1
    stored = referrals_on_disk(tmp_path)[str(FRIEND)]
    assert stored["payment_id"] == payment.id and stored["reward_plan"] == bonus.plan


async def test_two_payments_at_once_reward_once(tmp_path: Path, catalog: Catalog) -> None:
    bot = await invited_friend(tmp_path, catalog)
    first = await bot.money.payments.open_invoice(FRIEND, "premium1", "sbp")
    second = await bot.money.payments.open_invoice(FRIEND, "ai_group", "sbp")
    await asyncio.gather(
        bot.money.payments.confirm(first.id, decided_by=1),
        bot.money.payments.confirm(second.id, decided_by=2),
        bot.money.payments.credit(first.id),  # the same payment by a second path
    )
    assert len(bot.told) == 1
    assert len(bot.bonus_periods(INVITER)) == 1
    assert bot.referrals.counts(INVITER) == (1, 1)
    await bot.money.storage.close()
    restarted = await start(tmp_path, catalog)
    assert len(restarted.bonus_periods(INVITER)) == 1


async def test_a_stars_subscription_rewards_its_first_charge_only(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await invited_friend(tmp_path, catalog)
    record = await bot.money.payments.open_subscription(FRIEND, "power_group")

    first = await bot.money.payments.accept(charge(record, "first", first=True, user_id=FRIEND))
    assert first.credit is not None
    renewal = await bot.money.payments.accept(charge(record, "renewal", user_id=FRIEND))
    assert renewal.credit is not None
    assert len(bot.told) == 1 and len(bot.bonus_periods(INVITER)) == 1
    assert bot.referrals.counts(INVITER) == (1, 1)


async def test_a_payment_of_a_user_nobody_invited_rewards_nobody(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await invited_friend(tmp_path, catalog)
    await bot.paid(OTHER)
    await bot.paid(INVITER)  # the inviter's own payment is no friend's
    assert bot.told == [] and bot.bonus_periods(INVITER) == []
    assert bot.referrals.counts(INVITER) == (1, 0)


async def test_a_failed_write_claims_nothing_and_the_next_payment_rewards(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await invited_friend(tmp_path, catalog)
    payment = await bot.money.payments.open_invoice(FRIEND, "premium1", "sbp")
    storage = bot.money.storage
    real_commit = storage.commit

    async def full_disk(transaction: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "commit", full_disk)
    with pytest.raises(OSError):
        await bot.money.payments.confirm(payment.id, decided_by=1)
    monkeypatch.setattr(storage, "commit", real_commit)
    assert bot.bonus_periods(INVITER) == [] and bot.referrals.counts(INVITER) == (1, 0)

    await bot.money.payments.confirm(payment.id, decided_by=1)  # the admin tries again
    assert len(bot.told) == 1 and len(bot.bonus_periods(INVITER)) == 1
    await bot.money.storage.close()
    restarted = await start(tmp_path, catalog)
    assert restarted.referrals.counts(INVITER) == (1, 1)


async def test_without_a_referral_table_the_first_payment_is_noted_but_not_rewarded(
    tmp_path: Path, catalog: Catalog
) -> None:
    plain = catalog.model_copy(update={"referral": None})
    bot = await invited_friend(tmp_path, plain)
    payment = await bot.paid(FRIEND)
    assert bot.told == [] and bot.bonus_periods(INVITER) == []
    assert bot.referrals.counts(INVITER) == (1, 0)
    await bot.money.storage.close()
    # Turning the bonus on later does not reward a payment made before.
    restarted = await start(tmp_path, catalog)
    await restarted.paid(FRIEND, "ai_group")
    assert restarted.told == [] and restarted.bonus_periods(INVITER) == []
    assert referrals_on_disk(tmp_path)[str(FRIEND)]["payment_id"] == payment.id


async def test_records_survive_compaction_and_top_inviters(
    tmp_path: Path, catalog: Catalog
) -> None:
    bot = await invited_friend(tmp_path, catalog)
    second_code = START_PREFIX + await bot.referrals.code_for(OTHER)
    for user_id in (201, 202):
        await bot.referrals.arrive(user_id, second_code, first_visit=True)
    await bot.paid(FRIEND)
    await bot.money.storage.maintain()
    await bot.money.storage.close()
    assert (tmp_path / "referrals.json").exists()
    assert (tmp_path / "referral_codes.json").exists()

    restarted = await start(tmp_path, catalog)
    top = restarted.referrals.top()
    assert [(row.user_id, row.invited, row.rewarded) for row in top] == [
        (INVITER, 1, 1),
        (OTHER, 2, 0),
    ]
    state = await restarted.money.storage.load_money()
    assert sorted(r.user_id for r in state.referrals) == [FRIEND, 201, 202]
    assert all(isinstance(r, Referral) for r in state.referrals)


async def test_a_format_1_data_dir_has_no_referral_files_and_opens(tmp_path: Path) -> None:
    (tmp_path / "payments.json").write_text("[]")
    (tmp_path / "subscriptions.json").write_text("[]")
    bot = await start(tmp_path, load_catalog(ROOT / "catalog.toml"))
    state = await bot.money.storage.load_money()
    assert state.referrals == [] and state.referral_codes == []
    assert (tmp_path / "referrals.json").exists()  # written by the upgrade, empty


async def test_a_requests_bonus_adds_free_requests_a_day_for_its_days(
    tmp_path: Path, catalog: Catalog
) -> None:
    extra = catalog.model_copy(update={"referral": ReferralBonus(days=7, requests=20)})
    bot = await invited_friend(tmp_path, extra)
    stats = StatsService(bot.money.storage, MSK)
    await stats.load()
    access = AccessService(extra, bot.money.subscriptions)
    quota = QuotaService(extra, access, stats, MSK, extra_requests=bot.referrals.extra_requests)
    nano = extra.models_by_key["gpt-5-nano"]
    assert quota.limits(INVITER, nano).requests == 30

    payment = await bot.paid(FRIEND)
    assert quota.limits(INVITER, nano).requests == 50
    assert quota.limits(FRIEND, nano).requests is None  # the friend's plan: no free cap
    assert bot.bonus_periods(INVITER) == []  # no plan days in this bonus
    [reward] = bot.told
    assert (reward.plan, reward.days, reward.requests) == (None, 7, 20)
    for _ in range(50):
        await quota.take(INVITER, nano, 10)
    with pytest.raises(QuotaExceededError):
        await quota.take(INVITER, nano, 10)

    # A second friend's first payment stacks; each bonus ends after its days.
    code = START_PREFIX + (bot.referrals.code_of(INVITER) or "")
    await bot.referrals.arrive(OTHER, code, first_visit=True)
    second = await bot.paid(OTHER)
    assert bot.referrals.extra_requests(INVITER) == 40
    week = 7 * DAY
    assert bot.referrals.extra_requests(INVITER, payment.created_at + week - 60) == 40
    assert bot.referrals.extra_requests(INVITER, second.created_at + week + 1) == 0
    await bot.money.storage.close()

    restarted = await start(tmp_path, extra)  # the bonus is on disk
    assert restarted.referrals.extra_requests(INVITER) == 40
    assert restarted.referrals.counts(INVITER) == (2, 2)


def test_a_bonus_in_words_in_both_languages() -> None:
    ru, en = get_texts("ru"), get_texts("en")
    assert bonus_text(ru, 7, "AI Group", 0) == "7 дней тарифа <b>AI Group</b>"
    assert bonus_text(ru, 1, None, 21) == ("+21 запрос в день к бесплатным моделям на 1 день")
    assert bonus_text(ru, 3, "AI Group", 5) == (
        "3 дня тарифа <b>AI Group</b> и +5 запросов в день к бесплатным моделям на 3 дня"
    )
    assert bonus_text(en, 1, "AI Group", 1) == (
        "1 day of <b>AI Group</b> and 1 extra request a day to the free models for 1 day"
    )


# The catalog ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('plan = "nope"\ndays = 7', "unknown plan 'nope'"),
        ('plan = "ai_group"\ndays = 0', "days"),
        ("days = 7", "give a plan, extra requests, or both"),
        ('plan = "ai_group"\ndays = 7\nrequests = -5', "requests"),
    ],
)
def test_the_catalog_checks_the_referral_bonus(tmp_path: Path, table: str, message: str) -> None:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    current = re.search(r"\[referral\]\n(?:[a-z_]+ = [^\n]+\n)+", text)
    assert current is not None
    path = tmp_path / "catalog.toml"
    path.write_text(text.replace(current.group(0), f"[referral]\n{table}\n"), encoding="utf-8")
    with pytest.raises(CatalogError, match="referral") as error:
        load_catalog(path)
    assert message in str(error.value)


def test_a_retired_plan_is_no_bonus(tmp_path: Path) -> None:
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    retired = text.replace('id = "ai_group"\n', 'id = "ai_group"\nretired = true\n', 1)
    path = tmp_path / "catalog.toml"
    path.write_text(retired, encoding="utf-8")
    with pytest.raises(CatalogError, match="referral: retired plan 'ai_group'"):
        load_catalog(path)
