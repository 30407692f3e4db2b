"""Events every process hears at once: Redis pub/sub on `<prefix>:events`, a JSON object
per event, `{"kind": ..., ...}`. Used where a key alone would be too slow to notice (a
Stop pressed on one process for an answer another writes) or where every process keeps
a copy (Telegram's 429 pauses per chat). Pub/sub forgets what is published while a
process is not listening, so each user also keeps a key for what must not be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from redis.exceptions import RedisError

from services.shared.link import UNREACHABLE, SharedStateUnavailableError
from services.shared.state import SharedState

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
RECONNECT = 1.0  # seconds before listening again after Redis went away


class EventBus:
    """Publish events; `listen` runs the handlers of each kind as events arrive."""

    def __init__(self, shared: SharedState) -> None:
        self._shared = shared
        self._channel = shared.key("events")
        self._handlers: dict[str, list[Handler]] = {}
        self.listening = asyncio.Event()  # set while subscribed (tests wait for it)

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def publish(self, kind: str, **fields: Any) -> None:
        """SharedStateUnavailableError when Redis does not answer."""
        redis = self._shared.redis
        if redis is None:
            return
        data = orjson.dumps({"kind": kind, **fields})
        await self._shared.link.call(lambda: redis.publish(self._channel, data))

    async def publish_quietly(self, kind: str, **fields: Any) -> None:
        """The same, where a lost event costs little (the link has said Redis is away)."""
        with contextlib.suppress(SharedStateUnavailableError):
            await self.publish(kind, **fields)

    async def listen(self) -> None:
        """Until cancelled: subscribe, hand each event to its handlers, and subscribe again
        after Redis went away."""
        redis = self._shared.redis
        if redis is None:
            return
        while True:
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self.listening.set()
                async for message in pubsub.listen():
                    self._dispatch(message.get("data"))
            except (RedisError, *UNREACHABLE) as error:
                self._shared.link.failed(error)
            finally:
                self.listening.clear()
                with contextlib.suppress(RedisError, *UNREACHABLE):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RECONNECT)

    def _dispatch(self, data: object) -> None:
        if not isinstance(data, bytes | str):
            return
        try:
            event = orjson.loads(data)
            handlers = self._handlers.get(event.get("kind"), [])
        except (orjson.JSONDecodeError, AttributeError):
            logger.warning("An event that is not ours on %s", self._channel)
            return
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                logger.exception("Event handler failed for %s", event.get("kind"))
