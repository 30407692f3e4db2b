"""The Redis client and key prefix every shared piece uses, and the link's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from services.shared.link import RedisLink

if TYPE_CHECKING:
    from services.shared.bus import EventBus


@dataclass(slots=True)
class SharedState:
    """`redis` None: one process, every piece in its memory."""

    redis: Redis | None = None
    prefix: str = "aibot"
    link: RedisLink = field(default_factory=RedisLink)
    bus: EventBus | None = None  # with redis: events every process hears

    def key(self, *parts: object) -> str:
        """`<prefix>:<part>:<part>...`, the one way every key is named."""
        return ":".join((self.prefix, *(str(part) for part in parts)))
