"""BroadcastService.claim: the synchronous check-and-set that makes Send / Cancel act once."""

from __future__ import annotations

from services.operator.broadcast import BroadcastService
from services.storage.memory import MemoryStorage
from tests.unit.conftest import RETENTION


async def test_a_broadcast_is_claimed_once() -> None:
    service = BroadcastService(MemoryStorage(RETENTION), rate=100)
    first = await service.create(1, text="hi")
    second = await service.create(1, text="hello")
    assert service.claim(first.id) is True
    assert service.claim(first.id) is False
    assert service.claim(first.id) is False
    assert service.claim(second.id) is True  # another broadcast is its own decision


async def test_a_released_claim_can_be_taken_again() -> None:
    service = BroadcastService(MemoryStorage(RETENTION), rate=100)
    draft = await service.create(1, text="hi")
    assert service.claim(draft.id)
    service.release(draft.id)  # e.g. Send refused because another broadcast runs
    assert service.claim(draft.id)
    assert not service.claim(draft.id)
