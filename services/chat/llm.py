"""Model calls through the openai SDK: one pooled client per provider, streamed."""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

import aiohttp
import httpx2
import openai
from aiohttp_socks import ProxyConnector, ProxyType
from openai import DEFAULT_CONNECTION_LIMITS, AsyncOpenAI, AsyncStream, DefaultAioHttpClient
from openai._vendor.httpx_aiohttp import AiohttpTransport  # the SDK's own aiohttp transport
from openai.types.chat import ChatCompletionChunk

from services.catalog import Catalog, Model
from services.chat.answer import AudioPart, ImagePart
from services.chat.pictures import message_content
from services.models import ChatTurn, Usage

if TYPE_CHECKING:
    from httpx2 import AsyncClient  # what DefaultAioHttpClient is, for the type checker

logger = logging.getLogger(__name__)


# OpenAI's (and others') 403 error code for requests from a country it does not serve.
REGION_CODE = "unsupported_country_region_territory"
# Gemini says it in a 400's message instead ("User location is not supported ...").
REGION_MESSAGES = ("location is not supported", "unsupported_country_region_territory")
LIST_TIMEOUT = 20.0  # seconds for one GET /models
# Provider failures that mean the operator must act (a key, a retired model id).
CONFIG_FAILURES = frozenset(
    {"auth", "model_missing", "bad_request", "region_blocked", "proxy_refused", "proxy_unreachable"}
)

# Why a model cannot be chosen: its provider has no key, or no longer lists its model_id.
Unavailable = Literal["no_key", "not_served"]


class ProviderError(Exception):
    """A model call failed; `kind` says how (timeout, rate_limited, unavailable, cut, auth,
    model_missing, bad_request; region_blocked: the provider refuses this server's country;
    proxy_refused, proxy_unreachable: the provider's <NAME>_PROXY failed)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(slots=True, frozen=True)
class Transcript:
    """The words heard, and the audio's length in seconds when the provider tells it."""

    text: str
    seconds: float | None = None


def heard_seconds(result: object) -> float | None:
    """The length a transcription answer reports: `usage` of type "duration" (models
    billed by the second, e.g. whisper-1), or verbose_json's `duration`; None for models
    that report tokens."""
    usage = getattr(result, "usage", None)
    told = getattr(usage, "seconds", None) if getattr(usage, "type", None) == "duration" else None
    told = told if told is not None else getattr(result, "duration", None)
    return float(told) if isinstance(told, int | float) and told > 0 else None


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class StreamEnd:
    usage: Usage | None


# What a model's stream yields: text pieces and whole pictures or sounds (models that
# make them), then one StreamEnd.
StreamEvent = TextDelta | ImagePart | AudioPart | StreamEnd


@dataclass(slots=True, frozen=True)
class ProviderConfig:
    base_url: str
    api_key: str | None
    proxy: str | None = field(default=None, repr=False)  # may hold a password


class LLMGateway:
    """Holds one AsyncOpenAI client (aiohttp transport) per configured provider."""

    def __init__(self, catalog: Catalog, providers: dict[str, ProviderConfig], timeout: float):
        self._catalog = catalog
        self._clients: dict[str, AsyncOpenAI] = {}
        self._proxied: set[str] = set()
        # model key -> provider: models their provider no longer lists (see ModelCheck)
        self._not_served: dict[str, str] = {}
        for name, config in providers.items():
            if config.api_key:
                self._clients[name] = AsyncOpenAI(
                    api_key=config.api_key,
                    base_url=config.base_url,
                    timeout=timeout,
                    max_retries=1,
                    http_client=http_client(config.proxy),
                )
                if config.proxy:
                    self._proxied.add(name)
                    logger.info("Provider %s goes through %s", name, proxy_label(config.proxy))

    @property
    def configured(self) -> list[str]:
        """Providers with a key, in catalog order."""
        return list(self._clients)

    def has_proxy(self, provider: str) -> bool:
        return provider in self._proxied

    def is_available(self, model: Model) -> bool:
        """A model is usable when its provider has a key and still serves its model_id."""
        return self.unavailable_reason(model) is None

    def unavailable_reason(self, model: Model) -> Unavailable | None:
        if model.provider not in self._clients:
            return "no_key"
        if model.key in self._not_served:
            return "not_served"
        return None

    def set_not_served(self, models: Mapping[str, str]) -> None:
        """Model key -> provider for every model its provider no longer lists."""
        self._not_served = dict(models)

    @property
    def not_served(self) -> Mapping[str, str]:
        return self._not_served

    def provider_name(self, provider: str) -> str:
        """The provider's display name from the catalog ("OpenAI")."""
        entry = self._catalog.providers.get(provider)
        return entry.name if entry else provider

    def region_alert(self, provider: str) -> str:
        """The admin alert for a provider that refuses this server's country: names the fix."""
        name, setting = self.provider_name(provider), f"{provider.upper()}_PROXY"
        if self.has_proxy(provider):
            return (
                f"{name} refuses requests from the country of the proxy in {setting} "
                f"(HTTP 403 {REGION_CODE}): point {setting} at a proxy in a country {name} "
                "serves, and restart the bot."
            )
        return (
            f"{name} refuses requests from this server's country (HTTP 403 {REGION_CODE}): "
            f"set {setting}=socks5://user:password@host:1080 (or http://host:3128), a proxy "
            f"in a country {name} serves, and restart the bot; only {name} goes through it, "
            "Telegram and the other providers stay direct."
        )

    def alert_text(self, provider: str, kind: str) -> str | None:
        """An admin alert that names the fix, for failures the operator fixes in settings."""
        name, setting = self.provider_name(provider), f"{provider.upper()}_PROXY"
        if kind == "region_blocked":
            return self.region_alert(provider)
        if kind == "proxy_refused":
            return (
                f"The proxy in {setting} refused {name}'s requests (HTTP 407: wrong or missing "
                f"user:password): fix the credentials in {setting} and restart the bot."
            )
        if kind == "proxy_unreachable":
            return (
                f"The proxy in {setting} cannot be reached, so {name} cannot be either: check "
                f"that the proxy runs and that {setting} names its host and port, or remove "
                f"{setting} to go direct; then restart the bot."
            )
        return None

    async def list_models(self, provider: str) -> frozenset[str]:
        """The model ids a provider serves now (GET /models, ids and aliases).

        Raises ProviderError: `region_blocked`, `not_listed` (an HTTP error or an answer
        that is not a model list: the provider does not implement it), `unreachable`
        (no answer), `proxy_refused` or `proxy_unreachable` (its proxy failed).
        """
        client = self._clients.get(provider)
        if client is None:
            raise ProviderError("unavailable", f"provider {provider} has no API key")
        try:
            answer = await client.with_options(timeout=LIST_TIMEOUT, max_retries=0).get(
                "/models", cast_to=object
            )
        except openai.APIError as error:
            if provider in self._proxied and (kind := proxy_failure(error)):
                raise ProviderError(kind, str(error)) from error
            if isinstance(error, openai.APIStatusError):
                if is_region_refusal(error):
                    raise ProviderError("region_blocked", str(error)) from error
                raise ProviderError("not_listed", f"HTTP {error.status_code}") from error
            if isinstance(error, openai.APIConnectionError):  # timeouts too
                raise ProviderError("unreachable", str(error) or type(error).__name__) from error
            raise ProviderError("not_listed", str(error)) from error  # an unreadable answer
        except aiohttp.ClientError as error:
            raise ProviderError("unreachable", str(error) or type(error).__name__) from error
        ids = model_ids(answer)
        if not ids:
            raise ProviderError("not_listed", "the answer holds no model list")
        return ids

    async def transcribe(
        self, provider: str, model_id: str, audio: bytes, file_name: str
    ) -> Transcript:
        """Speech to text (OpenAI's `/audio/transcriptions`, multipart); ProviderError as
        for chats."""
        client = self._clients.get(provider)
        if client is None:
            raise ProviderError("unavailable", f"provider {provider} has no API key")
        try:
            result = await client.audio.transcriptions.create(
                model=model_id, file=(file_name, audio), response_format="json"
            )
        except openai.APIError as error:
            kind = error_kind(error, False, proxied=provider in self._proxied)
            raise ProviderError(kind, str(error)) from error
        except aiohttp.ClientError as error:
            raise ProviderError("unavailable", str(error)) from error
        return Transcript(result.text.strip(), heard_seconds(result))

    def default_model(self) -> Model:
        """The first free model whose provider is configured (else the catalog's first)."""
        free = (model for model in self._catalog.models if model.free)
        return next((m for m in free if self.is_available(m)), self._catalog.default_model)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    async def stream(
        self,
        model: Model,
        history: list[ChatTurn],
        images: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream an answer as TextDelta events ending with one StreamEnd; `images`: data
        URLs of the pictures to send, by id (the others stay a note)."""
        client = self._clients.get(model.provider)
        if client is None:
            raise ProviderError("unavailable", f"provider {model.provider} has no API key")
        usage: Usage | None = None
        finished = False
        received = False
        try:
            # client.post() sends our plain JSON body as it is: the typed
            # chat.completions.create() re-validates every history message, which
            # measured as the largest CPU cost per answer with long conversations.
            stream = await client.post(
                "/chat/completions",
                body=request_body(model, history, images or {}),
                cast_to=ChatCompletionChunk,
                stream=True,
                stream_cls=AsyncStream[ChatCompletionChunk],
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.delta.content:
                            received = True
                            yield TextDelta(choice.delta.content)
                        if choice.finish_reason is not None:
                            finished = True
        except openai.APIError as error:
            kind = error_kind(error, received, proxied=model.provider in self._proxied)
            raise ProviderError(kind, str(error)) from error
        except aiohttp.ClientError as error:  # a broken stream
            raise ProviderError("cut" if received else "unavailable", str(error)) from error
        if not finished:
            raise ProviderError("cut", "the stream ended without a finish reason")
        yield StreamEnd(usage)


def request_body(
    model: Model, history: list[ChatTurn], images: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The chat completion request; GPT-5-style reasoning models take other names."""
    shown = images or {}
    body: dict[str, object] = {
        "model": model.model_id,
        "messages": [
            {
                "role": turn.role,
                "content": message_content(turn, shown) if turn.images else turn.content,
            }
            for turn in history
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if model.reasoning:  # they reject max_tokens and any temperature
        body["max_completion_tokens"] = model.max_output_tokens
    else:
        body["max_tokens"] = model.max_output_tokens
        if model.temperature is not None:
            body["temperature"] = model.temperature
    return body


def error_kind(error: openai.APIError, received: bool, *, proxied: bool = False) -> str:
    """The ProviderError kind for an SDK error (received: part of the answer had come)."""
    if proxied and (kind := proxy_failure(error)):
        return kind
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.RateLimitError):
        return "rate_limited"
    if isinstance(error, openai.APIStatusError) and is_region_refusal(error):
        return "region_blocked"
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return "auth"
    if isinstance(error, openai.NotFoundError):
        return "model_missing"
    if isinstance(error, openai.BadRequestError):
        return "bad_request"
    return "cut" if received else "unavailable"  # 5xx, connection, broken stream


def proxy_failure(error: BaseException) -> str | None:
    """`proxy_refused` (407: wrong or missing credentials) or `proxy_unreachable` when the
    provider's proxy, not the provider, failed; else None."""
    if isinstance(error, openai.APIStatusError) and error.status_code == 407:
        return "proxy_refused"  # a plain-http upstream: the proxy's answer is the response
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, aiohttp.ClientHttpProxyError):  # CONNECT refused
            return "proxy_refused" if cause.status == 407 else "proxy_unreachable"
        if isinstance(cause, aiohttp.ClientProxyConnectionError):
            return "proxy_unreachable"
        cause = cause.__cause__ or cause.__context__
    return None


def is_region_refusal(error: openai.APIStatusError) -> bool:
    """The provider refuses requests from this server's country (OpenAI: 403 with code
    unsupported_country_region_territory; Gemini: 400 "User location is not supported")."""
    if error.code == REGION_CODE:
        return True
    if error.status_code not in (400, 403):
        return False
    text = f"{error} {error.body}".lower()  # the body: Gemini wraps its error in a list
    return any(marker in text for marker in REGION_MESSAGES)


def model_ids(answer: object) -> frozenset[str]:
    """The ids in an OpenAI-style model list (`{"data": [{"id": ...}, ...]}`), with any
    `aliases` and `canonical_slug`; Gemini's "models/..." prefix is dropped."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        return frozenset()
    ids: set[str] = set()
    for item in data:
        if not isinstance(item, dict):
            continue
        names: list[Any] = [item.get("id"), item.get("canonical_slug")]
        aliases = item.get("aliases")
        if isinstance(aliases, list):
            names += aliases
        ids.update(normalize_id(name) for name in names if isinstance(name, str) and name)
    return frozenset(ids)


def normalize_id(model_id: str) -> str:
    return model_id.strip().removeprefix("models/")


def http_client(proxy: str | None) -> AsyncClient:
    """The SDK's aiohttp-based HTTP client: direct, through an HTTP(S) proxy (aiohttp's
    own proxy support), or through SOCKS (aiohttp-socks' connector)."""
    if not proxy:
        return DefaultAioHttpClient(verify=tls_context(trust_env=True))
    scheme = urlsplit(proxy).scheme.lower()
    if scheme in ("http", "https"):
        # The SDK's client mounts a proxy transport that hands the proxy (credentials
        # apart, as Proxy-Authorization) to aiohttp: CONNECT for https upstreams.
        return DefaultAioHttpClient(
            proxy=proxy, trust_env=False, verify=tls_context(trust_env=False)
        )
    return DefaultAioHttpClient(
        transport=AiohttpTransport(
            client=lambda: aiohttp.ClientSession(**socks_session(proxy)),
            verify=tls_context(trust_env=True),  # the transport's own default
        ),
        trust_env=False,
    )


@functools.cache
def tls_context(*, trust_env: bool) -> ssl.SSLContext:
    """The context each client would build for itself (`verify=True`), built once and
    shared: reading the CA store took ≈50 ms per provider at start-up."""
    return httpx2.create_ssl_context(verify=True, trust_env=trust_env)


def socks_session(proxy: str) -> dict[str, Any]:
    """ClientSession arguments for a SOCKS proxy URL (socks5, socks5h, socks4)."""
    parts = urlsplit(proxy)
    scheme = parts.scheme.lower()
    assert parts.hostname is not None and parts.port is not None  # checked in config
    connector = _SocksConnector(
        proxy_type=ProxyType.SOCKS4 if scheme == "socks4" else ProxyType.SOCKS5,
        host=parts.hostname,
        port=parts.port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        rdns=scheme != "socks4",  # socks5 and socks5h: the proxy resolves the host name
        limit=DEFAULT_CONNECTION_LIMITS.max_connections or 100,
        keepalive_timeout=DEFAULT_CONNECTION_LIMITS.keepalive_expiry,
    )
    return {"connector": connector}


class _SocksConnector(ProxyConnector):
    """aiohttp-socks' connector whose failures are aiohttp's own proxy errors, so the SDK
    reports them as connection errors (aiohttp-socks raises its own exception types)."""

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._wrap_create_connection(*args, **kwargs)
        except (aiohttp.ClientError, OSError):
            raise
        except Exception as error:  # aiohttp_socks.ProxyError, ProxyConnectionError, ...
            request = kwargs.get("req")
            if request is None:
                raise
            raise aiohttp.ClientProxyConnectionError(
                request.connection_key, OSError(f"SOCKS proxy: {error}")
            ) from error


def proxy_label(proxy: str) -> str:
    """scheme://host:port of a proxy URL, without credentials (for logs)."""
    parts = urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"
