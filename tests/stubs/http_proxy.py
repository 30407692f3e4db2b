"""Local proxy stand-ins that record what they forward.

FakeHttpProxy: an HTTP forward proxy. A client sends it absolute-URI requests for plain
http upstreams (`POST http://127.0.0.1:PORT/v1/chat/completions HTTP/1.1`), which it
forwards and streams back (CONNECT, for https upstreams, is not needed here: 501).
FakeSocks5Proxy: a SOCKS5 proxy (RFC 1928, with RFC 1929 username/password), CONNECT only.

proxy = FakeHttpProxy(auth=("user", "secret"))   # None: no Proxy-Authorization needed
await proxy.start(); ...; proxy.url -> "http://127.0.0.1:PORT"
proxy.requests -> [ForwardedRequest(method, url, authorization), ...]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import struct
from dataclasses import dataclass

import aiohttp
from aiohttp import web

# Hop-by-hop headers a proxy does not forward (RFC 9110 7.6.1), and the ones aiohttp sets.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


@dataclass(frozen=True)
class ForwardedRequest:
    method: str
    url: str  # the absolute URI asked for (CONNECT: host:port)
    authorization: str | None  # the Proxy-Authorization header as received
    body: bytes = b""


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def _relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


class FakeHttpProxy:
    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.url = ""
        self.requests: list[ForwardedRequest] = []  # forwarded (or tunnelled)
        self.refused: list[ForwardedRequest] = []  # 407: no or wrong Proxy-Authorization
        self._server: web.Server | None = None
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._server = web.Server(self._handle)
        self._runner = web.ServerRunner(self._server, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = _listening_socket()
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url_with_auth(self) -> str:
        assert self.auth is not None
        user, password = self.auth
        return self.url.replace("http://", f"http://{user}:{password}@")

    def forwarded_paths(self) -> list[str]:
        return [request.url for request in self.requests]

    def models_asked(self) -> list[str]:
        """The `model` of every chat completion forwarded, in order."""
        found = []
        for request in self.requests:
            if request.url.endswith("/chat/completions") and request.body:
                found.append(str(json.loads(request.body).get("model")))
        return found

    def _authorized(self, header: str | None) -> bool:
        if self.auth is None:
            return True
        expected = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return header == f"Basic {expected}"

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        target = request.raw_path if request.method == "CONNECT" else str(request.url)
        if request.method != "CONNECT" and not request.raw_path.startswith("http"):
            return web.Response(status=400, text="a proxy takes absolute-URI requests")
        body = await request.read()
        record = ForwardedRequest(
            request.method, target, request.headers.get("Proxy-Authorization"), body
        )
        if not self._authorized(record.authorization):
            self.refused.append(record)
            return web.Response(
                status=407, headers={"Proxy-Authenticate": 'Basic realm="proxy"'}, text="auth"
            )
        self.requests.append(record)
        if request.method == "CONNECT":  # https upstreams; the tests' upstreams are http
            return web.Response(status=501, text="CONNECT is not supported by this stand-in")
        return await self._forward(request, body)

    async def _forward(self, request: web.BaseRequest, body: bytes) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method, request.raw_path, headers=headers, data=body or None
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():  # SSE streams pass as they come
                await response.write(chunk)
            await response.write_eof()
            return response


class FakeSocks5Proxy:
    """SOCKS5 CONNECT with 'no auth' or username/password; records each connection."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.url = ""
        self.connections: list[tuple[str, int, str | None]] = []  # host, port, username
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=_listening_socket())
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"socks5://127.0.0.1:{port}"

    def url_with_auth(self) -> str:
        assert self.auth is not None
        user, password = self.auth
        return self.url.replace("socks5://", f"socks5://{user}:{password}@")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._session(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5:
            return
        wanted = 0x02 if self.auth else 0x00
        if wanted not in methods:
            writer.write(b"\x05\xff")
            self.refused += 1
            return
        writer.write(bytes([5, wanted]))
        username = None
        if self.auth:
            _, length = await reader.readexactly(2)
            username = (await reader.readexactly(length)).decode()
            (length,) = await reader.readexactly(1)
            password = (await reader.readexactly(length)).decode()
            if (username, password) != self.auth:
                writer.write(b"\x01\x01")
                self.refused += 1
                return
            writer.write(b"\x01\x00")
        _, command, _, address_type = await reader.readexactly(4)
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif address_type == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:  # CONNECT only
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + bytes(6))
            return
        self.connections.append((host, port, username))
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        await writer.drain()
        await _relay(reader, writer, upstream_reader, upstream_writer)
