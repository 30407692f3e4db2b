"""A YooMoney wallet API stand-in: `operation-history` as the real API answers it,
plus a way to send HTTP notifications to the bot like YooMoney does."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class FakeOperation:
    operation_id: str
    amount: float
    label: str
    status: str = "success"
    direction: str = "in"
    datetime: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "operation_id": self.operation_id,
            "status": self.status,
            "datetime": self.datetime.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "title": "Пополнение с банковской карты",
            "direction": self.direction,
            "amount": self.amount,
            "label": self.label,
            "type": "deposition",
        }


class FakeYooMoney:
    """`POST /api/operation-history` with a Bearer token and form fields."""

    def __init__(self, token: str = "ym-test-token") -> None:
        self.token = token
        self.operations: list[FakeOperation] = []
        self.requests: list[dict[str, str]] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer next (e.g. 429, 500)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def add(self, operation_id: str, amount: float, label: str, **kwargs: Any) -> FakeOperation:
        operation = FakeOperation(operation_id, amount, label, **kwargs)
        self.operations.append(operation)
        return operation

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/operation-history", self._history)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = _free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _history(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.requests.append(form)
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0))
        if form.get("type", "deposition") not in ("deposition", "payment"):
            return web.json_response({"error": "illegal_param_type"})
        try:
            records = int(form.get("records", "30"))
            start = int(form.get("start_record", "0"))
        except ValueError:
            return web.json_response({"error": "illegal_param_records"})
        if not 1 <= records <= 100:
            return web.json_response({"error": "illegal_param_records"})
        since = _parse_time(form.get("from"))
        selected = [
            op
            for op in sorted(self.operations, key=lambda op: op.datetime, reverse=True)
            if (not form.get("label") or op.label == form["label"])
            and (since is None or op.datetime >= since)
            and (form.get("type") != "deposition" or op.direction == "in")
        ]
        page = selected[start : start + records]
        answer: dict[str, Any] = {"operations": [op.to_json() for op in page]}
        if start + records < len(selected):
            answer["next_record"] = str(start + records)
        return web.json_response(answer)


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def notification_fields(
    secret: str, *, operation_id: str, amount: str, label: str, unaccepted: bool = False
) -> dict[str, str]:
    """Form fields of a YooMoney HTTP notification with a correct sha1_hash."""
    fields = {
        "notification_type": "card-incoming",
        "operation_id": operation_id,
        "amount": amount,
        "withdraw_amount": amount,
        "currency": "643",
        "datetime": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "sender": "",
        "codepro": "false",
        "label": label,
        "unaccepted": "true" if unaccepted else "false",
        "test_notification": "false",
    }
    parts = [
        fields[name]
        for name in (
            "notification_type",
            "operation_id",
            "amount",
            "currency",
            "datetime",
            "sender",
            "codepro",
        )
    ]
    fields["sha1_hash"] = hashlib.sha1("&".join([*parts, secret, label]).encode()).hexdigest()
    return fields


async def send_notification(url: str, fields: dict[str, str]) -> int:
    """POST a notification to the bot like YooMoney does; returns the HTTP status."""
    async with aiohttp.ClientSession() as session, session.post(url, data=fields) as response:
        return response.status
