"""Providers as they are: model lists that change (GET /models), and providers that refuse
this server's country (a proxy per provider). The real `python bot.py`, only through the
Bot API emulator, the OpenAI stand-in and local proxy stand-ins."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.callbacks import ModelChoice
from tests.e2e.conftest import ADMIN, StartBot, model_choice
from tests.stubs.http_proxy import FakeHttpProxy, FakeSocks5Proxy
from tests.stubs.openai_server import FakeOpenAI
from tests.stubs.telegram_server import FakeTelegram

USER = 501
PROXY_PASSWORD = "proxy-secret-42"
REGION_ERROR = {
    "error": {
        "message": "Country, region, or territory not supported",
        "type": "request_forbidden",
        "param": None,
        "code": "unsupported_country_region_territory",
    }
}


@pytest.fixture
async def http_proxy() -> AsyncIterator[FakeHttpProxy]:
    proxy = FakeHttpProxy(auth=("proxyuser", PROXY_PASSWORD))
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def socks_proxy() -> AsyncIterator[FakeSocks5Proxy]:
    proxy = FakeSocks5Proxy(auth=("socksuser", "socks-pass-7"))
    await proxy.start()
    yield proxy
    await proxy.stop()


async def choose(telegram: FakeTelegram, user: int, name: str) -> None:
    """/model, then the model's button, until the menu says it is current."""
    telegram.user_message(user, "/model")
    menu = await telegram.wait_for_last(user, "Выберите модель")
    telegram.press(user, menu, model_choice(name))
    await telegram.wait_for(
        lambda: f"Сейчас: <b>{name}" in (telegram.messages(user)[-1].html or "")
    )


def admin_texts(telegram: FakeTelegram) -> list[str]:
    return [message.text for message in telegram.messages(ADMIN)]


# Proxies ----------------------------------------------------------------------------------
async def test_a_provider_goes_through_its_http_proxy_and_another_goes_direct(
    telegram: FakeTelegram, llm: FakeOpenAI, http_proxy: FakeHttpProxy, start_bot: StartBot
) -> None:
    bot = await start_bot({"OPENROUTER_PROXY": http_proxy.url_with_auth()})
    # The start-up model check of OpenRouter went through the proxy, with its credentials.
    assert any(url.endswith("/v1/models") for url in http_proxy.forwarded_paths())
    assert not http_proxy.refused

    telegram.user_message(USER, "Привет")  # GPT-4.1 Nano: OpenRouter, through the proxy
    answer = await telegram.wait_for_message(USER, "Echo: Привет")
    assert http_proxy.models_asked() == ["openai/gpt-4.1-nano"]
    assert llm.requests[-1]["model"] == "openai/gpt-4.1-nano"  # it reached the model

    await choose(telegram, USER, "GPT-5 Nano")  # OpenAI: direct
    telegram.user_message(USER, "А так?")
    await telegram.wait_for_message(USER, "Echo: А так?", after=answer.message_id)
    assert llm.requests[-1]["model"] == "gpt-5-nano"
    assert http_proxy.models_asked() == ["openai/gpt-4.1-nano"]  # nothing more through it
    # Only OpenRouter's model list went through the proxy; the other six went direct.
    assert sum(url.endswith("/v1/models") for url in http_proxy.forwarded_paths()) == 1
    assert llm.models_requests == 7

    log = bot.log_text()
    assert "goes through http://127.0.0.1:" in log
    assert PROXY_PASSWORD not in log and "proxyuser:" not in log


async def test_a_provider_goes_through_a_socks5_proxy(
    telegram: FakeTelegram, llm: FakeOpenAI, socks_proxy: FakeSocks5Proxy, start_bot: StartBot
) -> None:
    bot = await start_bot({"OPENAI_PROXY": socks_proxy.url_with_auth()})
    await choose(telegram, USER, "GPT-5 Nano")
    telegram.user_message(USER, "Через SOCKS")
    await telegram.wait_for_message(USER, "Echo: Через SOCKS")
    assert llm.requests[-1]["model"] == "gpt-5-nano"
    port = int(llm.base_url.split(":")[2].split("/")[0])
    assert ("127.0.0.1", port, "socksuser") in socks_proxy.connections
    assert "socks-pass-7" not in bot.log_text()


async def test_a_proxy_refusing_the_credentials_is_named_to_the_admins(
    telegram: FakeTelegram, llm: FakeOpenAI, http_proxy: FakeHttpProxy, start_bot: StartBot
) -> None:
    wrong = http_proxy.url_with_auth().replace(PROXY_PASSWORD, "wrong-password")
    bot = await start_bot({"OPENROUTER_PROXY": wrong})
    alert = await telegram.wait_for_message(ADMIN, "OPENROUTER_PROXY")
    assert "407" in alert.text and "wrong-password" not in alert.text
    telegram.user_message(USER, "Привет")
    await telegram.wait_for_message(USER, "Не удалось получить ответ")
    assert llm.requests == []  # the proxy let nothing through
    assert http_proxy.refused
    assert "wrong-password" not in bot.log_text()


async def test_a_country_refusal_alerts_the_admins_with_the_fix_and_explains_to_the_user(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot()
    await choose(telegram, USER, "GPT-5 Nano")  # OpenAI
    llm.fail_next(403, REGION_ERROR)
    telegram.user_message(USER, "Вопрос")
    refusal = await telegram.wait_for_message(USER, "не принимает запросы с нашего сервера")
    assert "GPT-5 Nano" in refusal.text and "/model" in refusal.text
    assert "unsupported_country" not in refusal.text and "403" not in refusal.text
    alert = await telegram.wait_for_message(ADMIN, "OPENAI_PROXY=")
    assert "OpenAI refuses requests from this server's country" in alert.text

    telegram.user_message(USER, "Ещё раз")  # the provider answers again: so does the bot
    await telegram.wait_for_message(USER, "Echo: Ещё раз")


# Models that exist --------------------------------------------------------------------------
async def test_a_model_its_provider_no_longer_lists_is_unavailable_with_the_reason(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot, data_dir: Path
) -> None:
    llm.models = [model for model in llm.models if model != "openai/gpt-4.1-nano"]
    bot = await start_bot()
    alert = await telegram.wait_for_message(ADMIN, "GPT-4.1 Nano is not served by OpenRouter")
    assert "openai/gpt-4.1-nano" in alert.text and "model_id" in alert.text

    telegram.user_message(USER, "/model")
    menu = await telegram.wait_for_message(USER, "Выберите модель")
    assert "GPT-4.1 Nano: больше не предоставляется через OpenRouter" in menu.text
    labels = [button["text"] for button in menu.buttons()]
    assert "⛔ GPT-4.1 Nano" in labels
    assert "✅ GPT-5 Nano" in labels  # a new user starts on the free model that exists
    telegram.press(USER, menu, ModelChoice(key="gpt-4.1-nano"))
    reason = await telegram.wait_for_message(
        USER, "больше не предоставляется", after=menu.message_id
    )
    assert "GPT-4.1 Nano" in reason.text and "OpenRouter" in reason.text

    telegram.user_message(USER, "Привет")
    await telegram.wait_for_message(USER, "Echo: Привет")
    assert [request["model"] for request in llm.requests] == ["gpt-5-nano"]
    assert not any("теперь отвечает" in m.text for m in telegram.messages(USER))  # new user

    # A restart does not tell the admins again (the marker is in DATA_DIR).
    told = sum("GPT-4.1 Nano is not served" in text for text in admin_texts(telegram))
    assert told == 1
    assert json.loads((data_dir / "model_check.json").read_bytes())["missing"] == {
        "gpt-4.1-nano": "openai/gpt-4.1-nano"
    }
    bot.terminate()
    assert await bot.wait() == 0
    before = llm.models_requests
    await start_bot()
    await telegram.wait_for(lambda: llm.models_requests >= before + 7)
    telegram.user_message(USER, "/model")
    await telegram.wait_for_last(USER, "больше не предоставляется через OpenRouter")
    assert sum("GPT-4.1 Nano is not served" in text for text in admin_texts(telegram)) == 1


async def test_a_user_whose_model_disappears_is_moved_within_the_plan_and_told_once(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    await start_bot({"MODEL_CHECK_INTERVAL": "0.3"})
    telegram.user_message(ADMIN, f"/grant {USER} premium1 30")  # GPT-4o Mini, Gemini 2.0
    await telegram.wait_for_message(USER, "Вам открыт тариф")
    await choose(telegram, USER, "GPT-4o Mini")
    telegram.user_message(USER, "Первый")
    first = await telegram.wait_for_message(USER, "Echo: Первый")
    assert llm.requests[-1]["model"] == "gpt-4o-mini"

    llm.models = [model for model in llm.models if model != "gpt-4o-mini"]  # retired
    await telegram.wait_for_message(ADMIN, "GPT-4o Mini is not served by OpenAI", timeout=10)
    telegram.user_message(USER, "Второй")
    moved = await telegram.wait_for_message(USER, "теперь отвечает", after=first.message_id)
    assert "GPT-4o Mini" in moved.text and "Gemini 2.0" in moved.text and "OpenAI" in moved.text
    answer = await telegram.wait_for_message(USER, "Echo: Второй", after=first.message_id)
    assert answer.message_id > moved.message_id  # told before the answer
    assert llm.requests[-1]["model"] == "gemini-3-flash-preview"  # Gemini 2.0, same plan

    telegram.user_message(USER, "Третий")
    await telegram.wait_for_message(USER, "Echo: Третий", after=answer.message_id)
    assert sum("теперь отвечает" in m.text for m in telegram.messages(USER)) == 1
    assert "gpt-4o-mini" not in [r["model"] for r in llm.requests[1:]]

    llm.models.append("gpt-4o-mini")  # served again: available again, admins told
    await telegram.wait_for_message(ADMIN, "GPT-4o Mini (gpt-4o-mini) is listed by OpenAI again")
    telegram.user_message(USER, "/model")
    menu = await telegram.wait_for_last(USER, "Выберите модель")
    assert "больше не предоставляется" not in menu.text
    assert "GPT-4o Mini" in [button["text"] for button in menu.buttons()]


async def test_a_provider_without_a_model_list_keeps_its_models(
    telegram: FakeTelegram, llm: FakeOpenAI, start_bot: StartBot
) -> None:
    llm.models_status = 404  # GET /models is not implemented
    llm.models = []
    await start_bot()
    assert llm.models_requests == 7
    telegram.user_message(USER, "/model")
    menu = await telegram.wait_for_message(USER, "Выберите модель")
    assert not any(button["text"].startswith("⛔") for button in menu.buttons())
    assert "больше не предоставляется" not in menu.text
    telegram.user_message(USER, "Привет")
    await telegram.wait_for_message(USER, "Echo: Привет")
    assert llm.requests[-1]["model"] == "openai/gpt-4.1-nano"
    assert not any("not served" in text for text in admin_texts(telegram))
