"""All routers in priority order; the catch-all chat router comes last."""

from __future__ import annotations

from aiogram import Router

from handlers import chat, common, errors, models


def get_routers() -> list[Router]:
    return [errors.router, common.router, models.router, chat.router]
