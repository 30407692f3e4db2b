"""An OpenAI-compatible chat completions server: streams SSE chunks like the real API."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def echo_reply(request: dict[str, Any]) -> str:
    return f"Echo: {request['messages'][-1]['content']}"


class FakeOpenAI:
    def __init__(self, api_key: str | None = "sk-test") -> None:
        self.api_key = api_key
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], str] = echo_reply
        self.chunk_size = 8
        self.delay_first = 0.0
        self.delay_per_chunk = 0.0
        self.models = ["gpt-5-nano", "gpt-4o-mini"]
        self._failures: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.cut_stream_next = 0
        self.hang_next = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        port = _free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(
        self, status: int, message: str = "error", headers: dict[str, str] | None = None
    ) -> None:
        body = {"error": {"message": message, "type": "server_error", "code": None}}
        self._failures.append((status, body, headers or {}))

    def user_messages(self) -> list[str]:
        """The last user message of every request, in order."""
        return [r["messages"][-1]["content"] for r in self.requests]

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == (
            f"Bearer {self.api_key}"
        )

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": model, "object": "model", "owned_by": "test"} for model in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        body = await request.json()
        body["_path"] = request.path
        body["_authorization"] = request.headers.get("Authorization")
        self.requests.append(body)
        if self._failures:
            status, error, headers = self._failures.pop(0)
            return web.json_response(error, status=status, headers=headers)
        if self.hang_next:
            self.hang_next -= 1
            await self._stopping.wait()
            return web.Response(status=503)
        text = self.reply(body)
        completion_id = f"chatcmpl-{next(self._ids)}"
        created = int(time.time())
        model = body.get("model", "test")
        usage = {
            "prompt_tokens": sum(len(m["content"]) for m in body["messages"]) // 4 + 1,
            "completion_tokens": len(text) // 4 + 1,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        if self.delay_first:
            await asyncio.sleep(self.delay_first)
        await response.write(chunk({"role": "assistant", "content": ""}))
        pieces = [text[i : i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]
        cut = self.cut_stream_next > 0
        if cut:
            self.cut_stream_next -= 1
            pieces = pieces[: max(1, len(pieces) // 2)]
        for piece in pieces:
            await response.write(chunk({"content": piece}))
            if self.delay_per_chunk:
                await asyncio.sleep(self.delay_per_chunk)
        if cut:
            assert request.transport is not None
            request.transport.close()  # drop the connection mid-answer
            return response
        await response.write(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage_chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            await response.write(f"data: {json.dumps(usage_chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
