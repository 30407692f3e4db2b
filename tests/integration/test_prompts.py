"""The rename prompt through the production Dispatcher: any text may be a title, so the
step ends by itself after RENAME_WAIT, and what is typed later is a question."""

from __future__ import annotations

import pytest

from edge.callbacks import ChatsAct, ChatsMenu
from handlers import conversations
from tests.integration.conftest import Harness

USER = 7


async def state_of(harness: Harness) -> str | None:
    context = harness.dispatcher.fsm.get_context(harness.bot, USER, USER)
    return await context.get_state()


async def test_a_title_typed_in_time_renames(harness: Harness) -> None:
    await harness.message(USER, "/new")
    current = (await harness.services.chat.conversations.all(USER)).current or ""
    await harness.press(USER, ChatsMenu(action=ChatsAct.RENAME, conversation_id=current).pack())
    assert await state_of(harness) is not None
    await harness.message(USER, "Рабочие заметки")
    assert "переименован" in harness.session.texts_to(USER)[-1]
    assert await state_of(harness) is None


async def test_a_text_after_the_wait_goes_to_the_model_not_into_the_title(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.message(USER, "/new")
    current = (await harness.services.chat.conversations.all(USER)).current or ""
    await harness.press(USER, ChatsMenu(action=ChatsAct.RENAME, conversation_id=current).pack())
    monkeypatch.setattr(conversations, "RENAME_WAIT", -1.0)  # the prompt has run out
    sent = len(harness.session.texts_to(USER))
    await harness.message(USER, "А какая завтра погода?")
    answers = harness.session.texts_to(USER)[sent:]
    assert answers and not any("переименован" in text for text in answers)
    assert await state_of(harness) is None
    titles = [c.title for c in (await harness.services.chat.conversations.all(USER)).items]
    assert "А какая завтра погода?" not in titles
