"""The Stars gateway: Telegram's calls that return Stars and change a Stars
subscription's renewal, with Telegram's answer sorted into final or temporary."""

from __future__ import annotations

from collections.abc import Awaitable

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"  # refundStarPayment again: it was done


class StarsCallError(Exception):
    """Telegram did not do it: `final` (400, 403) or not (429, 5xx, no answer: try again,
    after `retry_after` when Telegram gave one). `message` is Telegram's own words."""

    def __init__(
        self, reason: str, message: str, *, final: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.message = message
        self.final = final
        self.retry_after = retry_after


async def refund(bot: Bot, user_id: int, charge_id: str) -> None:
    """Return a Stars payment; one already returned counts as done."""
    await _call(bot.refund_star_payment(user_id, charge_id), done_when=ALREADY_REFUNDED)


async def set_renewal(bot: Bot, user_id: int, first_charge_id: str, *, canceled: bool) -> None:
    """Stop (or resume) a Stars subscription's renewal; its period runs on either way."""
    await _call(
        bot.edit_user_star_subscription(
            user_id=user_id, telegram_payment_charge_id=first_charge_id, is_canceled=canceled
        )
    )


async def _call(request: Awaitable[object], *, done_when: str | None = None) -> None:
    try:
        await request
    except TelegramRetryAfter as error:
        raise StarsCallError(
            error.message, error.message, final=False, retry_after=float(error.retry_after)
        ) from error
    except TelegramBadRequest as error:
        if done_when is not None and done_when in error.message:
            return
        raise StarsCallError(error.message, error.message, final=True) from error
    except TelegramForbiddenError as error:
        raise StarsCallError(error.message, error.message, final=True) from error
    except TelegramAPIError as error:  # 5xx, no answer, and the like
        reason = f"{type(error).__name__}: {error.message}"
        raise StarsCallError(reason, error.message, final=False) from error
