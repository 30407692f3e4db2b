"""Models that exist (ModelCheck) and providers behind proxies (settings, transport wiring,
error kinds, log masking): the service logic without Telegram."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx2
import openai
import pytest
from pydantic import SecretStr

from config import ConfigError, Settings, load_settings, proxy_problem, proxy_secrets
from services.catalog import Catalog
from services.chat.llm import (
    LLMGateway,
    ProviderConfig,
    ProviderError,
    error_kind,
    http_client,
    model_ids,
    socks_session,
)
from services.chat.model_check import ModelCheck
from services.container import provider_configs
from services.limits.access import AccessService
from services.log_setup import SecretsFilter, collect_secrets
from services.models import Conversation, Conversations, UserRecord
from services.money.subscriptions import SubscriptionService
from services.operator.alerts import AlertService
from services.storage.json_store import JsonStorage
from tests.unit.conftest import RETENTION

PROVIDERS = ("openai", "openrouter", "deepseek", "gemini", "xai", "perplexity", "qwen")


class ListingLLM(LLMGateway):
    """Every provider configured; `answers[provider]` is what GET /models gives: a set of
    ids, or a ProviderError kind to raise."""

    def __init__(self, catalog: Catalog, proxied: tuple[str, ...] = ()) -> None:
        configs = {
            name: ProviderConfig(
                "http://127.0.0.1:9/v1", "k", "http://127.0.0.1:9" if name in proxied else None
            )
            for name in PROVIDERS
        }
        super().__init__(catalog, configs, 5)
        self.all_ids = frozenset(model.model_id for model in catalog.models)
        self.answers: dict[str, frozenset[str] | str] = {}

    async def list_models(self, provider: str) -> frozenset[str]:
        answer = self.answers.get(provider, self.all_ids)
        if isinstance(answer, str):
            raise ProviderError(answer, "scripted")
        return answer


class Alerts(AlertService):
    def __init__(self) -> None:
        super().__init__(cooldown=0)
        self.sent: list[str] = []

    async def alert(self, key: str, text: str) -> bool:
        self.sent.append(text)
        return True


class Users:
    """The UsersService surface ModelCheck uses, in memory."""

    def __init__(self, *users: UserRecord) -> None:
        self.saved = {user.id: UserRecord(user.id, model_key=user.model_key) for user in users}

    async def get(self, user_id: int) -> UserRecord | None:
        stored = self.saved.get(user_id)
        return UserRecord(stored.id, model_key=stored.model_key) if stored else None

    async def set_model(self, user: UserRecord, model_key: str) -> None:
        user.model_key = model_key
        self.saved[user.id] = UserRecord(user.id, model_key=model_key)


class Chats:
    """The ConversationService surface ModelCheck uses: one current conversation."""

    def __init__(self, model_key: str | None) -> None:
        self.item = Conversation("1", "", 0.0, 0.0, model_key=model_key)

    async def all(self, owner: int) -> Conversations:
        return Conversations(current="1", items=(self.item,))

    async def set_current_model(self, owner: int, model_key: str) -> None:
        self.item = Conversation("1", "", 0.0, 0.0, model_key=model_key)


async def make(
    tmp_path: Path, catalog: Catalog, state: Path | None = None
) -> tuple[ModelCheck, ListingLLM, Alerts, SubscriptionService]:
    storage = JsonStorage(tmp_path / "data", RETENTION)
    await storage.open()
    subscriptions = SubscriptionService(storage, catalog)
    llm = ListingLLM(catalog)
    alerts = Alerts()
    kept = JsonStorage(state.parent, RETENTION) if state is not None else None  # state.name
    check = ModelCheck(catalog, llm, AccessService(catalog, subscriptions), alerts, kept)
    return check, llm, alerts, subscriptions


# Listing ------------------------------------------------------------------------------------
def test_model_ids_read_ids_aliases_slugs_and_gemini_names() -> None:
    answer = {
        "object": "list",
        "data": [
            {"id": "gpt-5-nano", "object": "model"},
            {"id": "grok-4.3-0125", "aliases": ["grok-4.3", "grok-latest"]},
            {"id": "openai/gpt-4o-mini", "canonical_slug": "openai/gpt-4o-mini-2024-07-18"},
            {"id": "models/gemini-3-flash-preview"},
            "junk",
            {"no": "id"},
        ],
    }
    assert model_ids(answer) == {
        "gpt-5-nano",
        "grok-4.3-0125",
        "grok-4.3",
        "grok-latest",
        "openai/gpt-4o-mini",
        "openai/gpt-4o-mini-2024-07-18",
        "gemini-3-flash-preview",
    }
    assert model_ids({"data": "nope"}) == frozenset()
    assert model_ids(["gpt-5-nano"]) == frozenset()
    assert model_ids(None) == frozenset()


async def test_a_model_no_longer_listed_is_not_served_and_admins_are_told_once(
    tmp_path: Path, catalog: Catalog
) -> None:
    state = tmp_path / "model_check.json"
    check, llm, alerts, _ = await make(tmp_path, catalog, state)
    llm.answers["openrouter"] = frozenset({"openai/gpt-3.5-turbo"})  # gpt-4.1-nano is gone
    report = await check.run_once()
    nano = catalog.models_by_key["gpt-4.1-nano"]
    assert [model.key for model in report.gone] == ["gpt-4.1-nano"]
    assert llm.unavailable_reason(nano) == "not_served"
    assert not llm.is_available(nano)
    assert llm.default_model().key == "gpt-5-nano"  # the free default that exists
    assert len(alerts.sent) == 1
    assert "GPT-4.1 Nano is not served by OpenRouter any more" in alerts.sent[0]
    assert "'openai/gpt-4.1-nano'" in alerts.sent[0] and "catalog.toml" in alerts.sent[0]

    await check.run_once()  # still gone: not told again
    assert len(alerts.sent) == 1

    # A restart: the marker is on disk, so the admins are not told again either.
    again, llm2, alerts2, _ = await make(tmp_path, catalog, state)
    await again.load()
    assert llm2.unavailable_reason(nano) == "not_served"  # known before any answer
    llm2.answers["openrouter"] = frozenset({"openai/gpt-3.5-turbo"})
    await again.run_once()
    assert alerts2.sent == []

    llm2.answers["openrouter"] = llm2.all_ids  # listed again: available, admins told
    report = await again.run_once()
    assert [model.key for model in report.back] == ["gpt-4.1-nano"]
    assert llm2.is_available(nano)
    assert alerts2.sent == [
        "GPT-4.1 Nano (openai/gpt-4.1-nano) is listed by OpenRouter again: available in /model again."
    ]


async def test_providers_without_a_list_are_not_held_against_their_models(
    tmp_path: Path, catalog: Catalog
) -> None:
    check, llm, _, _ = await make(tmp_path, catalog)
    llm.answers["openrouter"] = frozenset({"something-else"})
    await check.run_once()
    assert set(check.missing) == {"gpt-4.1-nano", "gpt-3.5-turbo"}
    llm.answers["openrouter"] = "not_listed"  # 404, 405, any HTTP error
    llm.answers["perplexity"] = "not_listed"
    report = await check.run_once()
    assert check.missing == {}
    assert all(llm.is_available(model) for model in catalog.models)
    assert set(report.skipped) == {"openrouter", "perplexity"}


async def test_a_network_failure_keeps_the_previous_answer(
    tmp_path: Path, catalog: Catalog
) -> None:
    state = tmp_path / "model_check.json"
    check, llm, _, _ = await make(tmp_path, catalog, state)
    llm.answers["openai"] = frozenset({"gpt-5-nano"})  # gpt-4o-mini retired
    await check.run_once()
    assert set(check.missing) == {"gpt-4o-mini"}
    llm.answers["openai"] = "unreachable"
    report = await check.run_once()
    assert report.kept == ["openai"]
    assert set(check.missing) == {"gpt-4o-mini"}
    assert not llm.is_available(catalog.models_by_key["gpt-4o-mini"])

    # Also across a restart: unreachable at start-up, the stored answer applies.
    again, llm2, _, _ = await make(tmp_path, catalog, state)
    await again.load()
    llm2.answers["openai"] = "unreachable"
    await again.run_once()
    assert set(again.missing) == {"gpt-4o-mini"}


async def test_a_changed_model_id_drops_the_stored_marker(tmp_path: Path, catalog: Catalog) -> None:
    state = tmp_path / "model_check.json"
    state.write_text('{"missing": {"gpt-4o-mini": "gpt-4o-mini-old", "nope": "x"}}')
    check, _, _, _ = await make(tmp_path, catalog, state)
    await check.load()
    assert check.missing == {}  # the operator changed model_id: it is checked afresh
    state.write_text("not json")
    await check.load()  # unreadable: ignored
    assert check.missing == {}


async def test_a_country_refusal_of_the_list_alerts_with_the_fix(
    tmp_path: Path, catalog: Catalog
) -> None:
    check, llm, alerts, _ = await make(tmp_path, catalog)
    llm.answers["openai"] = "region_blocked"
    await check.run_once()
    assert check.missing == {}  # not held against its models
    assert len(alerts.sent) == 1
    assert "OpenAI refuses requests from this server's country" in alerts.sent[0]
    assert "set OPENAI_PROXY=socks5://" in alerts.sent[0]


# Moving users -------------------------------------------------------------------------------
async def test_replacement_is_a_model_of_the_same_plan_the_user_may_use(
    tmp_path: Path, catalog: Catalog
) -> None:
    check, llm, _, subscriptions = await make(tmp_path, catalog)
    llm.answers["openai"] = frozenset({"gpt-5-nano"})  # GPT-4o Mini gone
    await check.run_once()
    mini = catalog.models_by_key["gpt-4o-mini"]
    await subscriptions.grant(7, "premium1", 30, "admin:test")  # GPT-4o Mini, Gemini 2.0
    assert check.replacement(7, mini).key == "gemini-2.0"
    await subscriptions.grant(8, "gpt_pro", 30, "admin:test")  # GPT-3.5 Turbo, GPT-4o Mini
    assert check.replacement(8, mini).key == "gpt-3.5-turbo"
    assert check.replacement(9, mini).key == "gpt-4.1-nano"  # no plan: the free default

    llm.answers["openai"] = llm.all_ids
    llm.answers["openrouter"] = frozenset({"openai/gpt-3.5-turbo"})  # the free one gone
    await check.run_once()
    assert check.replacement(9, catalog.models_by_key["gpt-4.1-nano"]).key == "gpt-5-nano"


async def test_settle_moves_the_user_and_their_conversation_once(
    tmp_path: Path, catalog: Catalog
) -> None:
    check, llm, _, subscriptions = await make(tmp_path, catalog)
    await subscriptions.grant(7, "premium1", 30, "admin:test")
    user = UserRecord(7, model_key="gpt-4o-mini")
    users, chats = Users(user), Chats("gpt-4o-mini")
    assert await check.settle(user, users, chats) is None  # everything served: nothing to do

    llm.answers["openai"] = frozenset({"gpt-5-nano"})
    await check.run_once()
    move = await check.settle(user, users, chats)
    assert move is not None
    assert (move.old.key, move.new.key, move.provider) == ("gpt-4o-mini", "gemini-2.0", "OpenAI")
    assert user.model_key == "gemini-2.0" and users.saved[7].model_key == "gemini-2.0"
    assert chats.item.model_key == "gemini-2.0"
    assert await check.settle(user, users, chats) is None  # told once

    # A copy of the record taken before the move (a concurrent update) is not moved again.
    stale = UserRecord(7, model_key="gpt-4o-mini")
    assert await check.settle(stale, users, chats) is None
    assert stale.model_key == "gemini-2.0"


async def test_settle_follows_the_current_conversation_model(
    tmp_path: Path, catalog: Catalog
) -> None:
    check, llm, _, _ = await make(tmp_path, catalog)
    llm.answers["openrouter"] = frozenset({"openai/gpt-3.5-turbo"})  # GPT-4.1 Nano gone
    await check.run_once()
    user = UserRecord(7, model_key="gpt-5-nano")  # their own model is fine
    users, chats = Users(user), Chats("gpt-4.1-nano")  # the conversation's is not
    move = await check.settle(user, users, chats)
    assert move is not None and move.new.key == "gpt-5-nano"
    assert chats.item.model_key == "gpt-5-nano" and user.model_key == "gpt-5-nano"


# Proxies: settings -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://host:3128",
        "https://user:pass@proxy.example.com:443",
        "socks5://user:p%40ss@10.0.0.1:1080",
        "socks5h://proxy:1080/",
        "socks4://proxy:1080",
        "socks5://[::1]:1080",
    ],
)
def test_proxy_urls_accepted(url: str) -> None:
    assert proxy_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://host:21", "must start with http://"),
        ("host:3128", "must start with http://"),
        ("socks5://host", "needs a host and a port"),
        ("http://:3128", "needs a host and a port"),
        ("http://host:port", "malformed host or port"),
        ("http://host:3128/path", "must be only scheme"),
    ],
)
def test_proxy_urls_refused(url: str, problem: str) -> None:
    assert problem in (proxy_problem(url) or "")


def test_proxy_settings_are_secret_and_checked_without_quoting_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "42:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1")
    monkeypatch.setenv("OPENAI_PROXY", " socks5://user:topsecret@proxy:1080 ")
    settings = load_settings(_env_file=None)
    assert settings.provider_proxy("openai") == "socks5://user:topsecret@proxy:1080"
    assert settings.provider_proxy("openrouter") is None
    assert "topsecret" not in repr(settings)
    monkeypatch.setenv("OPENROUTER_PROXY", "socks5://user:topsecret@proxy")
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert str(error.value).startswith("Configuration error: OPENROUTER_PROXY needs a host")
    assert "topsecret" not in str(error.value)


def test_catalog_only_providers_read_their_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = Catalog.model_validate(
        {
            "providers": {"acme": {"name": "Acme", "base_url": "https://acme.example/v1"}},
            "models": [
                {
                    "key": "a",
                    "name": "A",
                    "provider": "acme",
                    "model_id": "a",
                    "free": True,
                    "context_tokens": 1000,
                }
            ],
        }
    )
    settings = Settings(
        bot_token=SecretStr("42:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"), _env_file=None
    )
    monkeypatch.setenv("ACME_API_KEY", "k")
    monkeypatch.setenv("ACME_PROXY", "http://u:pw@proxy:3128")
    assert provider_configs(settings, catalog)["acme"].proxy == "http://u:pw@proxy:3128"
    assert "pw" not in repr(provider_configs(settings, catalog)["acme"])
    monkeypatch.setenv("ACME_PROXY", "socks9://proxy:1")
    with pytest.raises(ConfigError, match="ACME_PROXY must start with"):
        provider_configs(settings, catalog)


def test_proxy_credentials_are_masked_in_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "42:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1")
    monkeypatch.setenv("OPENAI_PROXY", "socks5://bob:p%40ssword9@proxy:1080")
    monkeypatch.setenv("ACME_PROXY", "http://eve:hunter22@other:3128")
    settings = load_settings(_env_file=None)
    assert proxy_secrets("socks5://bob:p%40ssword9@proxy:1080") == [
        "socks5://bob:p%40ssword9@proxy:1080",
        "bob:p%40ssword9",
        "p%40ssword9",
        "p@ssword9",
    ]
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1,
        "via %s, then %s; password %s; other eve:hunter22",
        ("socks5://bob:p%40ssword9@proxy:1080", "bob:p%40ssword9@proxy", "p@ssword9"),
        None,
    )  # fmt: skip
    SecretsFilter(collect_secrets(settings)).filter(record)
    shown = record.getMessage()
    assert "ssword9" not in shown and "hunter22" not in shown
    assert "proxy:1080" not in shown  # the whole URL is masked


# Proxies: transport and errors --------------------------------------------------------------
def test_transports_per_proxy_kind() -> None:
    direct = http_client(None)
    http = http_client("http://u:pw@127.0.0.1:3128")
    socks = http_client("socks5://u:p%40ss@127.0.0.1:1080")
    assert not direct._mounts  # direct: the SDK's default aiohttp transport
    (proxy_transport,) = [t for t in http._mounts.values() if t is not None]
    proxy = proxy_transport.proxy  # type: ignore[attr-defined]
    assert str(proxy.url) == "http://127.0.0.1:3128" and proxy.auth == ("u", "pw")
    assert not socks._mounts  # SOCKS: our transport, with aiohttp-socks' connector
    assert type(socks._transport).__name__ == "AiohttpTransport"


async def test_socks_connector_carries_the_decoded_credentials() -> None:
    session_args = socks_session("socks5://u:p%40ss@127.0.0.1:1080")
    connector = session_args["connector"]
    try:
        assert connector._proxy_username == "u" and connector._proxy_password == "p@ss"
        assert connector._proxy_host == "127.0.0.1" and connector._proxy_port == 1080
        assert connector._rdns is True
    finally:
        await connector.close()


def _status_error(status: int, body: dict[str, object]) -> openai.APIStatusError:
    request = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions")
    response = httpx2.Response(status, json=body, request=request)
    client = openai.AsyncOpenAI(api_key="k")
    return client._make_status_error_from_response(response)


def test_error_kinds() -> None:
    region = _status_error(
        403,
        {
            "error": {
                "message": "Country, region, or territory not supported",
                "type": "request_forbidden",
                "param": None,
                "code": "unsupported_country_region_territory",
            }
        },
    )
    assert error_kind(region, False) == "region_blocked"
    gemini = _status_error(
        400,
        [
            {
                "error": {
                    "code": 400,
                    "message": "User location is not supported for the API use.",
                    "status": "FAILED_PRECONDITION",
                }
            }
        ],  # type: ignore[arg-type]
    )
    assert error_kind(gemini, False) == "region_blocked"
    forbidden = _status_error(403, {"error": {"message": "no", "code": "forbidden"}})
    assert error_kind(forbidden, False) == "auth"
    bad = _status_error(400, {"error": {"message": "max_tokens", "code": None}})
    assert error_kind(bad, False) == "bad_request"
    proxy = _status_error(407, {"error": {"message": "auth"}})
    assert error_kind(proxy, False, proxied=True) == "proxy_refused"
    assert error_kind(proxy, False) == "unavailable"
    server = _status_error(503, {"error": {"message": "down"}})
    assert error_kind(server, True) == "cut" and error_kind(server, False) == "unavailable"


async def test_a_region_alert_names_the_setting(catalog: Catalog) -> None:
    direct = ListingLLM(catalog)
    text = direct.alert_text("openai", "region_blocked") or ""
    assert text.startswith("OpenAI refuses requests from this server's country")
    assert (
        "OPENAI_PROXY=socks5://" in text and "Telegram and the other providers stay direct" in text
    )
    proxied = ListingLLM(catalog, proxied=("openai",))
    assert "country of the proxy in OPENAI_PROXY" in (
        proxied.alert_text("openai", "region_blocked") or ""
    )
    assert "OPENROUTER_PROXY" in (direct.alert_text("openrouter", "proxy_refused") or "")
    assert direct.alert_text("openai", "timeout") is None
    await direct.close()
    await proxied.close()
