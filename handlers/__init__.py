"""All routers in priority order; the catch-all chat router comes last."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    admin,
    chat,
    common,
    conversations,
    errors,
    groups,
    media,
    models,
    modes,
    payments,
    plans,
    referrals,
    renewals,
    sbp,
    support,
    welcome,
)


def get_routers() -> list[Router]:
    return [
        errors.router,
        groups.router,
        common.router,
        conversations.router,
        modes.router,
        models.router,
        plans.router,
        payments.router,
        sbp.router,
        support.router,
        renewals.router,
        referrals.router,
        welcome.router,
        admin.router,
        media.router,
        chat.router,
    ]
