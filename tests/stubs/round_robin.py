"""A small reverse proxy for tests: several bot processes behind one webhook URL.

Each request goes to the next backend in turn, with its path, query, body and headers
(the secret header included); the backend's status, headers and body come back. A backend
that cannot be reached is skipped for the next one, as nginx does by default
(`proxy_next_upstream error`); one that goes away with a POST is not sent it again (nor
does nginx resend a non-idempotent request): 502, and Telegram resends. `sent` records
which backend took each request.

    proxy = RoundRobinProxy(["http://127.0.0.1:8001", "http://127.0.0.1:8002"])
    await proxy.start()
    telegram.setWebhook(url=f"{proxy.base_url}/telegram/webhook")
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

# Headers that belong to one hop, not to the request passed on.
_HOP = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length"})


class RoundRobinProxy:
    def __init__(self, backends: list[str]) -> None:
        self.backends = [backend.rstrip("/") for backend in backends]
        self.base_url = ""
        self.sent: list[tuple[str, str, int]] = []  # (backend, path, status)
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _order(self) -> list[str]:
        """The backends starting from the next one in turn."""
        start = self._next
        self._next = (self._next + 1) % len(self.backends)
        return self.backends[start:] + self.backends[:start]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        for backend in self._order():
            try:
                async with self._session.request(
                    request.method, backend + request.path_qs, data=body, headers=headers
                ) as answer:
                    content = await answer.read()
                    self.sent.append((backend, request.path, answer.status))
                    passed = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
                    return web.Response(status=answer.status, body=content, headers=passed)
            except aiohttp.ClientConnectorError:
                continue  # not listening: the next backend (the request was not sent)
            except aiohttp.ClientError:  # it went away with the request: not sent again
                self.sent.append((backend, request.path, 502))
                return web.Response(status=502, text="the backend went away")
        return web.Response(status=502, text="no backend answered")
