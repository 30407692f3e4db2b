"""What the streaming presenter shares with other processes: Telegram's 429 pauses per
chat (a chat paused on one process is paused on all) and Telegram's stop button pressed
on a draft another process streams.

Key: `<prefix>:pause:<chat>` (until when, unix seconds; expires with the pause), read
when an answer begins; events on the bus: `pause`, so an answer another process is
writing in the same chat waits too, and `draft_stop`, for the process streaming that
draft.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from services.shared.bus import EventBus
from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState


class SharedPacing:
    def __init__(self, shared: SharedState, bus: EventBus) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._redis = shared.redis
        self._bus = bus
        # Told (chat, seconds left) when another process's chat is paused, and (chat,
        # draft) when a stop was pressed on a draft.
        self.heard_pause: Callable[[int, float], None] | None = None
        self.heard_draft_stop: Callable[[int, int], None] | None = None
        bus.on("pause", self._on_pause)
        bus.on("draft_stop", self._on_draft_stop)

    async def pause(self, chat_id: int, seconds: float) -> None:
        """Tell every process; a lost pause costs one more 429, nothing else."""
        until = time.time() + seconds
        key = self._shared.key("pause", chat_id)
        with contextlib.suppress(SharedStateUnavailableError):
            await self._shared.link.call(
                lambda: self._redis.set(key, f"{until:.3f}", px=max(1, int(seconds * 1000)))
            )
            await self._bus.publish("pause", chat=str(chat_id), until=until)

    async def left(self, chat_id: int) -> float:
        """Seconds the chat is still paused (0: it is not, or Redis does not answer)."""
        key = self._shared.key("pause", chat_id)
        try:
            value = await self._shared.link.call(lambda: self._redis.get(key))
        except SharedStateUnavailableError:
            return 0.0
        return max(0.0, float(value) - time.time()) if value else 0.0

    async def stop_draft(self, chat_id: int, draft_id: int) -> None:
        """Telegram's stop on a draft this process does not stream: for the one that
        does (SharedStateUnavailableError when Redis does not answer)."""
        await self._bus.publish("draft_stop", chat=str(chat_id), draft=draft_id)

    def _on_pause(self, event: dict[str, Any]) -> None:
        if self.heard_pause is not None:
            self.heard_pause(int(event["chat"]), float(event["until"]) - time.time())

    def _on_draft_stop(self, event: dict[str, Any]) -> None:
        if self.heard_draft_stop is not None:
            self.heard_draft_stop(int(event["chat"]), int(event["draft"]))
