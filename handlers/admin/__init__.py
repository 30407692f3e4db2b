"""Admin-only handlers, one module per feature; one filter here guards them all.

For anyone not in ADMIN_IDS every admin command falls through to the chat router's
"unknown command" and every admin button does nothing. Admin commands work in private
chats only.
"""

from __future__ import annotations

from aiogram import F, Router

from edge.filters import IsAdmin
from handlers.admin import (
    broadcast,
    grants,
    panel,
    payment_reports,
    payments,
    promo,
    promo_section,
    promo_wizard,
    refunds,
    revokes,
    stats,
    steps,
    support,
    users,
)

router = Router(name="admin")
router.message.filter(IsAdmin(), F.chat.type == "private")
router.callback_query.filter(IsAdmin())
router.include_routers(
    panel.router,
    users.router,
    grants.router,
    revokes.router,
    payments.router,
    refunds.router,
    payment_reports.router,
    promo.router,
    promo_wizard.router,
    promo_section.router,
    stats.router,
    broadcast.router,
    support.router,
    steps.router,  # last: what no step above took
)
