"""YooMoney notification `sha1_hash`: any garbage is a mismatch (400), never a crash (500)."""

from __future__ import annotations

import hashlib
from typing import cast

from aiohttp.test_utils import TestClient, TestServer

from services.money.yoomoney import Operation, YooMoneyChecker, notification_hash_ok
from services.money.yoomoney_webhook import NOTIFICATION_PATH, create_notification_app

SECRET = "s3cret"


def _signed(**overrides: str) -> dict[str, str]:
    fields = {
        "notification_type": "p2p-incoming",
        "operation_id": "op-1",
        "amount": "654.75",
        "currency": "643",
        "datetime": "2030-01-01T12:00:00Z",
        "sender": "41001000000000",
        "codepro": "false",
        "label": "pay-1",
    }
    fields.update(overrides)
    names = (
        "notification_type",
        "operation_id",
        "amount",
        "currency",
        "datetime",
        "sender",
        "codepro",
    )
    parts = [fields[name] for name in names] + [SECRET, fields["label"]]
    fields["sha1_hash"] = hashlib.sha1("&".join(parts).encode()).hexdigest()
    return fields


class FakeChecker:
    def __init__(self) -> None:
        self.applied: list[Operation] = []

    async def apply(self, operation: Operation) -> None:
        self.applied.append(operation)


def test_a_correct_hash_is_accepted() -> None:
    assert notification_hash_ok(_signed(), SECRET)
    assert not notification_hash_ok(_signed(), "another secret")


def test_a_non_ascii_hash_is_a_mismatch_not_an_error() -> None:
    fields = _signed()
    fields["sha1_hash"] = "ш" * 40
    assert notification_hash_ok(fields, SECRET) is False
    fields["sha1_hash"] = fields["sha1_hash"][:-1] + "é"
    assert notification_hash_ok(fields, SECRET) is False


async def _post(form: dict[str, str]) -> tuple[int, FakeChecker]:
    checker = FakeChecker()
    app = create_notification_app(cast(YooMoneyChecker, checker), SECRET)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(NOTIFICATION_PATH, data=form)
        return response.status, checker


async def test_notification_with_a_non_ascii_hash_answers_400() -> None:
    form = _signed()
    form["sha1_hash"] = "хэш-не-из-hex-цифр"
    status, checker = await _post(form)
    assert status == 400
    assert checker.applied == []


async def test_notification_with_a_valid_hash_is_applied() -> None:
    status, checker = await _post(_signed())
    assert status == 200
    assert [(op.label, op.amount) for op in checker.applied] == [("pay-1", 654.75)]
