"""Creating a promo code, for the admin's command and the wizard alike."""

from __future__ import annotations

import datetime as dt

from edge.views import plan_ids
from services.catalog import Catalog
from services.money.promo import PromoError, PromoService
from services.operator.admin_input import MAX_DAYS, MAX_USES, echo, grouped, within
from texts import Texts


async def create_code(
    texts: Texts,
    catalog: Catalog,
    promo: PromoService,
    *,
    code: str,
    plan_id: str,
    days: int,
    created_by: int,
    max_uses: int | None,
    valid_until: dt.date | None,
) -> str:
    """Create a code (command and wizard alike); the admin's answer."""
    if plan_id not in catalog.plans_by_id:
        return texts("admin_unknown_plan", plan=echo(plan_id), plans=plan_ids(catalog))
    if not within(days, MAX_DAYS):
        return texts("admin_days_range", max_days=MAX_DAYS)
    if max_uses is not None and not within(max_uses, MAX_USES):
        return texts("admin_uses_range", max_uses=grouped(MAX_USES))
    try:
        created = await promo.create(
            code, plan_id, days, created_by=created_by, max_uses=max_uses, valid_until=valid_until
        )
    except PromoError as error:
        limits = {"max_days": MAX_DAYS, "max_uses": grouped(MAX_USES)}  # for "bad_numbers"
        return texts(error.text_key, code=echo(code.upper()), **limits, **error.values)
    return texts(
        "admin_promo_created",
        code=created.code,
        plan=catalog.plans_by_id[created.plan_id].name,
        days=created.days,
        max_uses=created.max_uses or texts("no_limit"),
        until=created.valid_until or texts("no_date"),
    )
