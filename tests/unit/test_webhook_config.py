"""The webhook settings: WEBHOOK_URL, WEBHOOK_SECRET (required with it, Telegram's rule) and
WEBHOOK_MAX_CONNECTIONS; each mistake one line, the secret never in it."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings

SECRET = "Ab_9-" * 10


@pytest.fixture(autouse=True)
def base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    for name in ("WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_MAX_CONNECTIONS", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)


def refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    text = str(error.value)
    assert "\n" not in text and text.startswith("Configuration error: ")
    return text


def test_without_webhook_url_the_bot_polls_and_empty_values_are_not_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "")
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    monkeypatch.setenv("WEBHOOK_MAX_CONNECTIONS", "")
    settings = load_settings(_env_file=None)
    assert settings.webhook_url is None and settings.webhook_secret is None
    assert settings.webhook_max_connections is None


def test_a_full_webhook_setup_loads_and_the_secret_does_not_print(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_URL", " https://bot.example.com/telegram/webhook ")
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_MAX_CONNECTIONS", "100")
    settings = load_settings(_env_file=None)
    assert settings.webhook_url == "https://bot.example.com/telegram/webhook"
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == SECRET
    assert settings.webhook_max_connections == 100
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "WEBHOOK_SECRET is required with WEBHOOK_URL"),
        ({"WEBHOOK_SECRET": "has space"}, "WEBHOOK_SECRET must be 1-256 of A-Z"),
        ({"WEBHOOK_SECRET": "пароль"}, "WEBHOOK_SECRET must be 1-256 of A-Z"),
        ({"WEBHOOK_SECRET": "a" * 257}, "WEBHOOK_SECRET must be 1-256 of A-Z"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_MAX_CONNECTIONS": "0"}, "WEBHOOK_MAX_CONNECTIONS"),
        ({"WEBHOOK_SECRET": SECRET, "WEBHOOK_MAX_CONNECTIONS": "101"}, "WEBHOOK_MAX_CONNECTIONS"),
        ({"WEBHOOK_SECRET": SECRET, "WEB_PORT": "0"}, "WEBHOOK_URL needs the web server"),
    ],
)
def test_secret_and_connections_mistakes_are_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    text = refused(monkeypatch, WEBHOOK_URL="https://bot.example.com/hook", **env)
    assert expected in text
    for value in env.values():
        if len(value) > 3:
            assert value not in text  # the secret (or a wrong one) is never repeated


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("bot.example.com/hook", "WEBHOOK_URL must be a full https:// URL"),
        ("ftp://bot.example.com/hook", "WEBHOOK_URL must be a full https:// URL"),
        ("https://bot.example.com/health", "must not end in /health"),
        ("https://bot.example.com/yoomoney/notify", "must not end in /yoomoney/notify"),
        ("https://bot.example.com/hook#x", "must not have a #fragment"),
        ("https://bot.example.com:99999/hook", "malformed host or port"),
        ("http://bot.example.com/hook", "WEBHOOK_URL must start with https://"),
        ("https://bot.example.com:8080/hook", "port must be 443, 80, 88 or 8443"),
    ],
)
def test_url_mistakes_are_one_line(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    assert expected in refused(monkeypatch, WEBHOOK_URL=url, WEBHOOK_SECRET=SECRET)


def test_a_bot_api_server_of_ones_own_may_take_http_and_any_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081")
    monkeypatch.setenv("WEBHOOK_URL", "http://bot:8080/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    assert load_settings(_env_file=None).webhook_url == "http://bot:8080/hook"
