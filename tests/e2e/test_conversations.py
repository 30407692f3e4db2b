"""Several conversations, modes and /forget, tried as a user would through the real bot."""

from __future__ import annotations

from pathlib import Path

from edge.callbacks import ChatsAct, ChatsMenu, ModeAct, ModeChoice
from tests.e2e.conftest import StartBot
from tests.factories import callback_prefix
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 801


def asked(llm: FakeOpenAI) -> list[tuple[str, str]]:
    """The last request's messages as (role, text)."""
    return [(m["role"], m["content"]) for m in llm.requests[-1]["messages"]]


async def ask(telegram: FakeTelegram, text: str) -> None:
    telegram.user_message(USER, text)
    await telegram.wait_for_message(USER, f"Echo: {text}")


async def test_two_conversations_keep_their_contexts_apart_across_a_restart(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    await ask(telegram, "Про кошек")
    await ask(telegram, "Сколько им лет?")
    telegram.user_message(USER, "/new")
    await telegram.wait_for_message(USER, "новый диалог")
    await ask(telegram, "Про космос")
    assert [text for role, text in asked(llm) if role == "user"] == ["Про космос"]

    bot.terminate()
    assert await bot.wait() == 0
    await start_bot()
    await ask(telegram, "А далеко до Марса?")  # the current conversation survived
    assert [text for role, text in asked(llm) if role == "user"] == [
        "Про космос",
        "А далеко до Марса?",
    ]
    telegram.user_message(USER, "/chats")
    chats = await telegram.wait_for_message(USER, "Диалоги")
    assert "Про кошек" in chats.text and "Про космос" in chats.text
    telegram.press_button(USER, chats.message_id, chats.button_data("Про кошек"))
    await telegram.wait_for(lambda: telegram.messages(USER)[-1].text.count("▶️ Про кошек") == 1)
    await ask(telegram, "А собаки?")
    assert [text for role, text in asked(llm) if role == "user"] == [
        "Про кошек",
        "Сколько им лет?",
        "А собаки?",
    ]


async def test_rename_and_delete_a_conversation(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    await ask(telegram, "Первый вопрос")
    telegram.user_message(USER, "/chats")
    chats = await telegram.wait_for_message(USER, "Диалоги")
    telegram.press(
        USER, chats, chats.data_starting(callback_prefix(ChatsMenu, action=ChatsAct.RENAME))
    )
    await telegram.wait_for_message(USER, "Как назвать")
    telegram.user_message(USER, "Рабочие заметки")
    renamed = await telegram.wait_for_message(USER, "переименован: Рабочие заметки")
    telegram.user_message(USER, "/chats")
    chats = await telegram.wait_for_message(USER, "Диалоги", after=renamed.message_id)
    assert "Рабочие заметки" in chats.text
    telegram.press(
        USER, chats, chats.data_starting(callback_prefix(ChatsMenu, action=ChatsAct.DELETE))
    )
    confirm = await telegram.wait_for_message(USER, "Удалить текущий диалог")
    telegram.press(
        USER, confirm, confirm.data_starting(callback_prefix(ChatsMenu, action=ChatsAct.DELETE_OK))
    )
    await telegram.wait_for(lambda: not telegram.messages(USER)[-1].buttons())
    await ask(telegram, "После удаления")
    assert [text for role, text in asked(llm) if role == "user"] == ["После удаления"]


async def test_forget_leaves_no_trace_in_the_data_dir(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot()
    await ask(telegram, "секретное слово арбуз")
    telegram.user_message(USER, "/new")
    await telegram.wait_for_message(USER, "новый диалог")
    await ask(telegram, "второй секрет дыня")
    telegram.user_message(USER, "/forget")
    question = await telegram.wait_for_message(USER, "Удалить все")
    telegram.press(USER, question, ChatsMenu(action=ChatsAct.FORGET_OK))
    await telegram.wait_for_message(USER, "Все диалоги удалены")
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert "арбуз".encode() not in content and "дыня".encode() not in content, path
    await ask(telegram, "с чистого листа")
    assert [text for role, text in asked(llm) if role == "user"] == ["с чистого листа"]


async def test_modes_presets_and_a_custom_instruction(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    await ask(telegram, "привет")
    assert asked(llm)[0][0] == "system" and "ассистент" in asked(llm)[0][1]
    telegram.user_message(USER, "/mode")
    menu = await telegram.wait_for_message(USER, "Режим текущего диалога")
    telegram.press(USER, menu, ModeChoice(action=ModeAct.SET, key="translator"))
    await telegram.wait_for(lambda: "Переводчик</b>" in (telegram.messages(USER)[-1].html or ""))
    await ask(telegram, "hello")
    assert "переводчик" in asked(llm)[0][1].lower()

    telegram.user_message(USER, "/mode")
    menu = await telegram.wait_for_message(USER, "Режим текущего диалога", after=menu.message_id)
    telegram.press(USER, menu, ModeChoice(action=ModeAct.CUSTOM))
    await telegram.wait_for_message(USER, "Опишите")
    telegram.user_message(USER, "x" * 4000)
    await telegram.wait_for_message(USER, "слишком длинная")
    telegram.user_message(USER, "Отвечай стихами")
    preview = await telegram.wait_for_message(USER, "Ваша инструкция")
    assert "Отвечай стихами" in preview.text
    telegram.press(USER, preview, ModeChoice(action=ModeAct.USE))
    await telegram.wait_for_message(USER, "следует вашей инструкции")
    await ask(telegram, "как дела")
    assert asked(llm)[0] == ("system", "Отвечай стихами")
    telegram.user_message(USER, "/new")  # a new conversation keeps the mode
    await telegram.wait_for_message(USER, "новый диалог")
    await ask(telegram, "снова")
    assert asked(llm)[0] == ("system", "Отвечай стихами")


async def test_titles_with_html_characters_show_as_typed_in_chats_switch_and_rename(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    """Defect: /chats escaped titles twice (`Q&amp;A`); the switch alert once too often."""
    await start_bot()
    await ask(telegram, "Q&A <b>")
    telegram.user_message(USER, "/new")
    await telegram.wait_for_message(USER, "новый диалог")
    await ask(telegram, "второй")
    telegram.user_message(USER, "/chats")
    chats = await telegram.wait_for_message(USER, "Диалоги")
    assert "• Q&A <b> — " in chats.text
    assert chats.button("Q&A <b>")["text"] == "💬 Q&A <b>"  # buttons are plain text

    query = telegram.press_button(USER, chats.message_id, chats.button_data("Q&A <b>"))
    answer = await telegram.wait_for(lambda: telegram.callback_answer(query))
    assert answer["text"] == "Продолжаем: Q&A <b>"  # an alert is plain text
    listed = await telegram.wait_for(
        lambda: next((m for m in telegram.messages(USER) if "▶️ Q&A <b>" in m.text), None)
    )
    assert "&amp;" not in listed.text and "&lt;" not in listed.text

    telegram.press(
        USER, listed, listed.data_starting(callback_prefix(ChatsMenu, action=ChatsAct.RENAME))
    )
    await telegram.wait_for_message(USER, "Как назвать")
    telegram.user_message(USER, "R&D <i>")
    await telegram.wait_for_message(USER, "переименован: R&D <i>")
    telegram.user_message(USER, "/chats")
    renamed = await telegram.wait_for_last(USER, "Диалоги")
    assert "▶️ R&D <i> — " in renamed.text


async def test_new_past_max_conversations_deletes_the_oldest_for_good_and_says_so(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    await start_bot({"MAX_CONVERSATIONS": "2"})
    await ask(telegram, "секрет про арбуз")
    for question in ("про дыню", "про грушу"):
        telegram.user_message(USER, "/new")
        await telegram.wait_for_last(USER, "новый диалог")
        await ask(telegram, question)
    told = [m.text for m in telegram.messages(USER) if "новый диалог" in m.text.lower()]
    assert "удалён" not in told[0]
    assert "не больше 2 диалогов" in told[1] and "«секрет про арбуз»" in told[1]
    assert "удалён вместе с историей" in told[1]

    telegram.user_message(USER, "/chats")
    chats = await telegram.wait_for_last(USER, "Диалоги")
    assert "2 диалога" in chats.text
    assert "арбуз" not in chats.text and "про дыню" in chats.text and "про грушу" in chats.text
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert "арбуз".encode() not in path.read_bytes(), path
