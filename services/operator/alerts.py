"""Critical-error alerts to admins, deduplicated and rate-limited."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from services.shared.throttle import Cooldown, MemoryCooldown

logger = logging.getLogger(__name__)

Sender = Callable[[str], Awaitable[None]]
MAX_EARLY = 20  # alerts kept for delivery once the bot is connected


class AlertService:
    """Sends each distinct alert at most once per `cooldown` seconds.

    `send` delivers a text to every admin; it is provided by the Telegram side.
    """

    def __init__(self, send: Sender | None = None, *, cooldown: float = 60.0) -> None:
        self._send = send
        self.cooldown = cooldown
        # Alerts sent per key (a Redis cooldown when processes share Redis: set by the
        # container), so admins get one alert for a fault every process sees.
        self.dedupe: Cooldown = MemoryCooldown(cooldown)
        self._early: list[str] = []  # raised before the bot could send (start-up)
        self.suppressed = 0

    async def connect(self, send: Sender) -> None:
        """Deliver from now on, starting with what was raised during start-up."""
        self._send = send
        early, self._early = self._early, []
        for text in early:
            await self._deliver(text)

    async def alert(self, key: str, text: str) -> bool:
        """Deliver `text` unless the same `key` was alerted within the cooldown."""
        if await self.dedupe.claim(key):
            self.suppressed += 1
            return False
        if self._send is None:
            if len(self._early) < MAX_EARLY:
                self._early.append(text)
            return False
        return await self._deliver(text)

    async def _deliver(self, text: str) -> bool:
        assert self._send is not None
        try:
            await self._send(text)
        except Exception:  # an alert must never break the caller
            logger.exception("Could not deliver an admin alert")
            return False
        return True
