"""All routers in priority order; the catch-all chat router comes last."""

from __future__ import annotations

from aiogram import F, Router

from handlers import (
    admin,
    admin_broadcast,
    admin_panel,
    admin_payments,
    chat,
    common,
    errors,
    models,
    payments,
    plans,
)
from handlers.filters import IsAdmin

# Every admin module hangs under this router: one filter guards all their commands and
# buttons. For anyone else the update falls through to the chat router's answers.
admin_only = Router(name="admin_only")
admin_only.message.filter(IsAdmin(), F.chat.type == "private")
admin_only.callback_query.filter(IsAdmin())
admin_only.include_routers(
    admin.router, admin_payments.router, admin_panel.router, admin_broadcast.router
)


def get_routers() -> list[Router]:
    return [
        errors.router,
        common.router,
        models.router,
        plans.router,
        payments.router,
        admin_only,
        chat.router,
    ]
