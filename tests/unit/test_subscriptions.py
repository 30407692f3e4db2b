"""Entitlement rules: the end second, overlapping plans, extension, revoke, reminders."""

from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

from services.catalog import Catalog
from services.limits.access import AccessService
from services.models import Period, Subscription
from services.money.staging import Staged
from services.money.subscriptions import DAY, SubscriptionService
from services.storage.base import Transaction
from services.storage.json_store import JsonStorage
from tests.unit.conftest import RETENTION, open_money

T0 = 1_800_000_000.0


async def make(tmp_path: Path, catalog: Catalog) -> tuple[SubscriptionService, AccessService]:
    subs = (await open_money(tmp_path, catalog)).subscriptions
    return subs, AccessService(catalog, subs)


async def refund(subs: SubscriptionService, source: str, now: float) -> bool:
    staged = Staged()
    taken = subs.stage_refund(staged, 1, source, now=now)
    await staged.commit(subs._storage)
    return taken


async def test_access_ends_exactly_at_the_end_second(tmp_path: Path, catalog: Catalog) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "ai_group", 30, "admin:1:a", now=T0)
    end = T0 + 30 * DAY
    assert [p.plan.id for p in subs.active_plans(1, now=end - 1)] == ["ai_group"]
    assert subs.active_plans(1, now=end) == []
    assert subs.active_plans(1, now=T0 - 1) == []


async def test_active_plan_is_extended_from_its_end(tmp_path: Path, catalog: Catalog) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 30, "payment:a", now=T0)
    sub = await subs.grant(1, "premium1", 30, "payment:b", now=T0 + 10 * DAY)
    assert sub.end == T0 + 60 * DAY
    # After it lapsed, a new period starts from now, not from the old end.
    sub = await subs.grant(1, "premium1", 5, "payment:c", now=T0 + 100 * DAY)
    assert sub.end == T0 + 105 * DAY
    assert subs.active_plans(1, now=T0 + 80 * DAY) == []


async def test_same_source_never_adds_two_periods(tmp_path: Path, catalog: Catalog) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 30, "payment:x", now=T0)
    sub = await subs.grant(1, "premium1", 30, "payment:x", now=T0 + 1)
    assert len(sub.periods) == 1 and sub.end == T0 + 30 * DAY


async def test_several_plans_open_their_union(tmp_path: Path, catalog: Catalog) -> None:
    subs, access = await make(tmp_path, catalog)
    import time

    now = time.time()
    await subs.grant(5, "power_group", 30, "admin:1", now=now)
    await subs.grant(5, "gpt_pro", 1, "admin:2", now=now)
    keys = access.open_model_keys(5)
    assert {"grok-3", "sonar", "gpt-3.5-turbo", "gpt-4o-mini", "gpt-5-nano"} <= keys
    assert "deepseek" not in keys
    assert access.input_limit(5, catalog.models_by_key["gpt-5-nano"]) is None
    assert access.input_limit(6, catalog.models_by_key["gpt-5-nano"]) == 1000


async def test_revoke_one_or_all_and_persisted(tmp_path: Path, catalog: Catalog) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "power_group", 30, "admin:1", now=T0)
    await subs.grant(1, "gpt_pro", 30, "admin:2", now=T0)
    assert await subs.revoke(1, "gpt_pro", now=T0 + DAY) == ["gpt_pro"]
    assert [p.plan.id for p in subs.active_plans(1, now=T0 + 2 * DAY)] == ["power_group"]
    assert await subs.revoke(1, now=T0 + 2 * DAY) == ["power_group"]
    assert await subs.revoke(1, now=T0 + 3 * DAY) == []
    again, _ = await make(tmp_path, catalog)
    assert again.active_plans(1, now=T0 + 2 * DAY + 1) == []
    assert [p.plan.id for p in again.active_plans(1, now=T0 + DAY + 5)] == ["power_group"]


async def test_refund_takes_back_the_unused_period(tmp_path: Path, catalog: Catalog) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 30, "payment:a", now=T0)
    await subs.grant(1, "premium1", 30, "payment:b", now=T0)
    assert await refund(subs, "payment:a", now=T0 + 10 * DAY)
    (sub,) = subs.subscriptions()
    assert sub.end == T0 + 40 * DAY  # 10 days used of a, then b's 30 days
    assert not await refund(subs, "payment:zzz", now=T0)
    again, _ = await make(tmp_path, catalog)
    assert again.subscriptions()[0].end == T0 + 40 * DAY


async def test_refund_of_an_ended_period_changes_nothing(tmp_path: Path, catalog: Catalog) -> None:
    """Defect: refunding a period that already ended stretched it to the refund moment."""
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 30, "payment:old", now=T0)
    assert not await refund(subs, "payment:old", now=T0 + 45 * DAY)
    (sub,) = subs.subscriptions()
    assert sub.end == T0 + 30 * DAY
    assert subs.active_plans(1, now=T0 + 45 * DAY) == []


async def test_reminders_each_once_and_across_restarts(tmp_path: Path, catalog: Catalog) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 10, "admin:1", now=T0)
    end = T0 + 10 * DAY
    assert await subs.take_due_reminders(now=T0) == []
    (r,) = await subs.take_due_reminders(now=end - 3 * DAY + 1)
    assert r.kind == "3d"
    assert await subs.take_due_reminders(now=end - 3 * DAY + 2) == []
    restarted, _ = await make(tmp_path, catalog)
    assert await restarted.take_due_reminders(now=end - 2 * DAY) == []
    (r,) = await restarted.take_due_reminders(now=end - DAY + 5)
    assert r.kind == "1d"
    assert await restarted.take_due_reminders(now=end - 1) == []
    (r,) = await restarted.take_due_reminders(now=end)
    assert r.kind == "ended"
    assert await restarted.take_due_reminders(now=end + 60) == []


async def test_late_start_sends_only_the_most_urgent_reminder(
    tmp_path: Path, catalog: Catalog
) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 1, "admin:1", now=T0)  # ends in 1 day: 3d is already past
    reminders = await subs.take_due_reminders(now=T0 + 60)
    assert [r.kind for r in reminders] == ["1d"]
    # Extending resets reminders for the new end.
    await subs.grant(1, "premium1", 30, "admin:2", now=T0 + 120)
    assert await subs.take_due_reminders(now=T0 + 180) == []


async def test_revoked_plan_gets_no_ended_reminder(tmp_path: Path, catalog: Catalog) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "premium1", 30, "admin:1", now=T0)
    await subs.revoke(1, now=T0 + DAY)
    assert await subs.take_due_reminders(now=T0 + DAY + 10) == []


async def test_replacing_a_plan_keeps_the_users_order_and_a_failed_commit_undoes_it(
    tmp_path: Path, catalog: Catalog
) -> None:
    subs, _ = await make(tmp_path, catalog)
    await subs.grant(1, "power_group", 30, "admin:1", now=T0)
    await subs.grant(1, "gpt_pro", 30, "admin:2", now=T0)
    await subs.grant(1, "power_group", 5, "admin:3", now=T0)  # replaces the first in place
    assert [s.plan_id for s in subs.subscriptions()] == ["power_group", "gpt_pro"]
    before = subs.subscriptions()
    staged = Staged()
    subs.stage_period(staged, 1, "gpt_pro", 9, "admin:4", now=T0)
    subs.stage_period(staged, 1, "premium1", 9, "admin:5", now=T0)
    staged.undo()
    assert subs.subscriptions() == before
    assert await subs.revoke(1, now=T0 + DAY) == ["power_group", "gpt_pro"]


async def write_running(tmp_path: Path, catalog: Catalog, count: int) -> None:
    """`count` running subscriptions as a busy bot holds them, compacted into the
    snapshot: two periods each (a payment, a promo code), one reminder sent."""
    now = time.time()
    plans = sorted(catalog.plans_by_id)
    written = [
        Subscription(
            100_000_000 + index,
            plans[index % len(plans)],
            (
                Period(now - 10 * DAY + index, now + 20 * DAY, f"payment:{index:012x}"),
                Period(now + 20 * DAY, now + 50 * DAY, f"promo:CODE{index % 7}"),
            ),
            (f"3d:{now:.0f}",),
        )
        for index in range(count)
    ]
    storage = JsonStorage(tmp_path, RETENTION)
    await storage.open()
    await storage.commit(Transaction(subscriptions=written))
    await storage.maintain()
    await storage.close()


async def load_service(tmp_path: Path, catalog: Catalog) -> SubscriptionService:
    """The service as start-up builds it (the loaded state dropped afterwards)."""
    storage = JsonStorage(tmp_path, RETENTION)
    subs = SubscriptionService(storage, catalog)
    subs.load((await storage.load_money()).subscriptions)
    return subs


async def test_loaded_subscriptions_share_plan_ids_and_promo_sources(
    tmp_path: Path, catalog: Catalog
) -> None:
    await write_running(tmp_path, catalog, 60)
    first, *others = (await load_service(tmp_path, catalog)).subscriptions()
    same_plan = next(s for s in others if s.plan_id == first.plan_id)
    assert same_plan.plan_id is first.plan_id
    same_code = next(s for s in others if s.periods[1].source == first.periods[1].source)
    assert same_code.periods[1].source is first.periods[1].source


async def test_a_running_subscription_costs_little_memory(tmp_path: Path, catalog: Catalog) -> None:
    """At L with 60k running subscriptions the live set took 124 MB above S: 866 bytes
    a subscription like these once loaded (a dict per user, a copy of the plan id each);
    the target is 100 MB above S."""
    count = 3000
    await write_running(tmp_path, catalog, count)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        subs = await load_service(tmp_path, catalog)
        gc.collect()
        per_subscription = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(subs.subscriptions()) == count
    assert per_subscription < 700, per_subscription
