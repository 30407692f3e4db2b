"""Model calls through the openai SDK: one pooled client per provider, streamed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import openai
from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient
from openai.types.chat import ChatCompletionChunk

from services.catalog import Catalog, Model
from services.models import ChatTurn, Usage

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    """A model call failed; `kind` says how (timeout, rate_limited, unavailable, cut, auth)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class StreamEnd:
    usage: Usage | None


StreamEvent = TextDelta | StreamEnd


@dataclass(slots=True, frozen=True)
class ProviderConfig:
    base_url: str
    api_key: str | None


class LLMGateway:
    """Holds one AsyncOpenAI client (aiohttp transport) per configured provider."""

    def __init__(self, catalog: Catalog, providers: dict[str, ProviderConfig], timeout: float):
        self._catalog = catalog
        self._clients: dict[str, AsyncOpenAI] = {}
        for name, config in providers.items():
            if config.api_key:
                self._clients[name] = AsyncOpenAI(
                    api_key=config.api_key,
                    base_url=config.base_url,
                    timeout=timeout,
                    max_retries=1,
                    http_client=DefaultAioHttpClient(),
                )

    def is_available(self, model: Model) -> bool:
        """A model is usable only when its provider has a key configured."""
        return model.provider in self._clients

    def default_model(self) -> Model:
        """The first free model whose provider is configured (else the catalog's first)."""
        free = (model for model in self._catalog.models if model.free)
        return next((m for m in free if self.is_available(m)), self._catalog.default_model)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    async def stream(self, model: Model, history: list[ChatTurn]) -> AsyncIterator[StreamEvent]:
        """Stream an answer as TextDelta events ending with one StreamEnd."""
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
                body=request_body(model, history),
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
        except openai.APITimeoutError as error:
            raise ProviderError("timeout", str(error)) from error
        except openai.RateLimitError as error:
            raise ProviderError("rate_limited", str(error)) from error
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise ProviderError("auth", str(error)) from error
        except openai.NotFoundError as error:
            raise ProviderError("model_missing", str(error)) from error
        except openai.BadRequestError as error:
            raise ProviderError("bad_request", str(error)) from error
        except (openai.APIError, aiohttp.ClientError) as error:  # 5xx, connection, broken stream
            raise ProviderError("cut" if received else "unavailable", str(error)) from error
        if not finished:
            raise ProviderError("cut", "the stream ended without a finish reason")
        yield StreamEnd(usage)


def request_body(model: Model, history: list[ChatTurn]) -> dict[str, object]:
    """The chat completion request; GPT-5-style reasoning models take other names."""
    body: dict[str, object] = {
        "model": model.model_id,
        "messages": [{"role": turn.role, "content": turn.content} for turn in history],
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
