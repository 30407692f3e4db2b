"""What Retry needs, in Redis (services.chat.running.RetryMemory): any process can
retry the last request of an owner, and it survives a restart.

Key: `<prefix>:retry:<owner>` (a hash: `request`, the conversation and the question as
JSON; `answer`, "chat:message" of the answer carrying the Retry button), expiring
RETRY_TTL after the last answer. A lost write (Redis away) costs only a Retry that
answers "nothing to retry".
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from typing import cast

import orjson

from services.models import ChatTurn
from services.shared.link import SharedStateUnavailableError
from services.shared.state import SharedState

RETRY_TTL = 2 * 86_400  # seconds


class RedisRetries:
    def __init__(self, shared: SharedState) -> None:
        assert shared.redis is not None
        self._shared = shared
        self._redis = shared.redis

    async def _write(self, owner: int, field: str, value: bytes | str) -> None:
        key = self._shared.key("retry", owner)

        async def write() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, field, value)  # type: ignore[arg-type]
                pipe.expire(key, RETRY_TTL)
                await pipe.execute()

        with contextlib.suppress(SharedStateUnavailableError):
            await self._shared.link.call(write)

    async def _read(self, owner: int, field: str) -> bytes | None:
        key = self._shared.key("retry", owner)
        return await self._shared.link.call(
            lambda: cast(Awaitable[bytes | None], self._redis.hget(key, field))
        )

    async def remember_request(self, owner: int, conversation_id: str, question: ChatTurn) -> None:
        raw = {"conversation": conversation_id, "content": question.content}
        await self._write(owner, "request", orjson.dumps({**raw, "images": question.images}))

    async def last_request(self, owner: int) -> tuple[str, ChatTurn] | None:
        value = await self._read(owner, "request")
        if value is None:
            return None
        raw = orjson.loads(value)
        return raw["conversation"], ChatTurn("user", raw["content"], tuple(raw["images"]))

    async def remember_answer(self, owner: int, chat_id: int, message_id: int) -> None:
        await self._write(owner, "answer", f"{chat_id}:{message_id}")

    async def last_answer(self, owner: int) -> tuple[int, int] | None:
        value = await self._read(owner, "answer")
        if value is None:
            return None
        chat, _, message = value.decode().partition(":")
        return int(chat), int(message)

    async def forget(self, owner: int) -> None:
        key = self._shared.key("retry", owner)
        with contextlib.suppress(SharedStateUnavailableError):
            await self._shared.link.call(
                lambda: cast(Awaitable[int], self._redis.hdel(key, "request"))
            )
