"""All routers in priority order; the catch-all chat router comes last."""

from __future__ import annotations

from aiogram import Router

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


def get_routers() -> list[Router]:
    return [
        errors.router,
        common.router,
        models.router,
        plans.router,
        payments.router,
        admin.router,
        admin_payments.router,
        admin_panel.router,
        admin_broadcast.router,
        chat.router,
    ]
