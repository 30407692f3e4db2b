"""An OpenAI-compatible chat completions server that streams SSE chunks like the real API,
with `GET /v1/models` and `POST /v1/audio/transcriptions` (multipart, as the real API).

llm = FakeOpenAI()
await llm.start()
client = AsyncOpenAI(base_url=llm.base_url, api_key=llm.api_key)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import io
import itertools
import json
import math
import re
import socket
import struct
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from aiohttp import BodyPartReader, web
from mutagen.ogg import OggPage
from mutagen.oggopus import OggOpus

Reply = Callable[[dict[str, Any]], "str | Awaitable[str]"]

CATALOG = Path(__file__).resolve().parents[2] / "catalog.toml"
# Reasoning models reject max_tokens and any temperature but 1 (bare OpenAI ids).
REASONING_PREFIXES = ("gpt-5", "o1", "o3", "o4")
_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def catalog_model_ids() -> list[str]:
    """The model ids the project's catalog.toml sends (in its order, once each)."""
    with CATALOG.open("rb") as file:
        models = tomllib.load(file).get("models", [])
    return list(dict.fromkeys(str(model["model_id"]) for model in models))


def catalog_vision_ids() -> set[str]:
    """The model ids catalog.toml marks `vision = true`: the ones that take pictures."""
    with CATALOG.open("rb") as file:
        models = tomllib.load(file).get("models", [])
    return {str(model["model_id"]) for model in models if model.get("vision")}


IMAGE_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$")


def image_urls(content: Any) -> list[str]:
    """The image_url parts of a multimodal message."""
    if not isinstance(content, list):
        return []
    return [
        str((part.get("image_url") or {}).get("url", ""))
        for part in content
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a multimodal list."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def echo_reply(request: dict[str, Any]) -> str:
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    return f"Echo: {text_of(users[-1]['content']) if users else ''}"


# What /audio/transcriptions accepts (by the file name's extension), as the real API.
AUDIO_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # a bigger upload gets 413, as from the real API
# whisper-1 is billed by the audio's length and reports it (usage type "duration");
# the gpt-4o transcribe models report tokens and refuse audio over 1500 seconds.
DURATION_BILLED = frozenset({"whisper-1"})
MAX_TOKEN_MODEL_SECONDS = 1500
AUDIO_TOKENS_PER_SECOND = 10  # the stand-in's own figure for the tokens of a second
SPOKEN_TAG = "SPOKEN"  # the comment of a test's OGG file that holds its "speech"
OPUS_RATE = 48_000  # Opus granule positions count 48 kHz samples
OPUS_PRE_SKIP = 312


def ogg_opus(text: str, seconds: float = 3, size: int | None = None) -> bytes:
    """A real OGG/Opus container, as Telegram's voice notes are: `seconds` long by its
    pages' granule positions, about `size` bytes (default: 16 kbit/s), with `text` in a
    comment, which is what the stand-in "hears" (the audio packets are padding)."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, OPUS_PRE_SKIP, OPUS_RATE, 0, 0)
    vendor, comment = b"tests", f"{SPOKEN_TAG}={text}".encode()
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor
    tags += struct.pack("<II", 1, len(comment)) + comment
    headers = _ogg_page(0, head, 0, first=True) + _ogg_page(1, tags, 0)
    padding = max(1, (int(seconds * 2000) if size is None else size) - len(headers))
    count = max(1, -(-padding // 60_000))  # pages of at most 60 kB (Ogg's limit is ~64 kB)
    packet = b"\0" * max(1, padding // count - 40)  # each page has ~40 bytes of header
    body = (
        _ogg_page(
            number + 2,
            packet,
            OPUS_PRE_SKIP + int(seconds * OPUS_RATE * (number + 1) / count),
            last=number == count - 1,
        )
        for number in range(count)
    )
    return headers + b"".join(body)


def _ogg_page(
    sequence: int, packet: bytes, position: int, *, first: bool = False, last: bool = False
) -> bytes:
    page = OggPage()  # type: ignore[no-untyped-call]  # mutagen's Ogg pages are untyped
    page.serial, page.sequence, page.packets, page.position = 1, sequence, [packet], position
    page.first, page.last = first, last
    data: bytes = page.write()  # type: ignore[no-untyped-call]
    return data


def decoded(audio: bytes) -> tuple[str, float] | None:
    """(the words, seconds) the stand-in hears in `audio`; None when it is no audio a
    decoder reads (the real API answers 400)."""
    try:
        parsed = mutagen.File(io.BytesIO(audio))
    except mutagen.MutagenError:
        return None
    if parsed is None or not parsed.info.length:
        return None
    tags = parsed.tags if isinstance(parsed, OggOpus) else None
    spoken = tags.get(SPOKEN_TAG) if tags is not None else None
    return (spoken[0].strip() if spoken else ""), float(parsed.info.length)


def spoken_text(audio: bytes) -> str:
    """The stand-in's "speech recognition": the words of a test's `ogg_opus` file."""
    heard = decoded(audio)
    return heard[0] if heard else ""


def transcription_usage(model: str, seconds: float, text: str) -> dict[str, Any]:
    """`usage` of a transcription as the real API reports it: whole seconds for models
    billed by duration, else tokens."""
    if model in DURATION_BILLED:
        return {"type": "duration", "seconds": math.ceil(seconds)}
    audio_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
    output = max(1, len(text) // 3)
    return {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        "output_tokens": output,
        "total_tokens": audio_tokens + output,
    }


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    kind, code = _ERROR_KINDS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class _Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class FakeOpenAI:
    """`POST /v1/chat/completions` (plain and streamed) and `GET /v1/models`."""

    def __init__(self, api_key: str | None = "sk-test") -> None:
        self.api_key = api_key  # None: any key (or none) is accepted
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []  # bodies, plus _path/_authorization
        self.reply: Reply = echo_reply
        # GET /models lists these: every model_id of catalog.toml, so the bot's start-up
        # check finds them all served; a test removes one to retire it.
        self.models = catalog_model_ids()
        # Models that take image_url parts (others answer 400, as the real API does).
        self.vision_models = catalog_vision_ids()
        self.models_status: int | None = None  # e.g. 404: /models not implemented
        self.models_requests = 0  # GET /models calls answered
        self.known_models_only = False  # unknown model -> 404 model_not_found
        self.strict_reasoning_params = True  # gpt-5/o-series: 400 on max_tokens, temperature
        self.chunk_size = 8  # characters per content chunk
        self.delay_first = 0.0  # seconds before the first byte of an answer
        self.delay_per_chunk = 0.0
        self.first_piece_at_once = False  # no delay_per_chunk before the first piece
        self.cut_stream_next = 0  # streams to drop half-way (no [DONE])
        self.hang_next = 0  # requests never answered until stop() or release()
        self.active = 0  # requests being answered now
        self.closed_by_client = 0  # streams the client closed before the end (Stop)
        self.pieces_sent = 0  # content chunks written, over all streams
        self.max_active = 0
        # POST /audio/transcriptions: what was sent (model, file name, size, form fields),
        # the words heard in the audio, and its length (None: as its container says).
        self.transcriptions: list[dict[str, Any]] = []
        self.transcribe: Callable[[bytes], str] = spoken_text
        self.audio_seconds: Callable[[bytes], float | None] = lambda audio: None
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = _listening_socket()
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # Test side ------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        body: str | dict[str, Any] = "error",
        headers: dict[str, str] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        """The next request gets this error: `body` is a message or a whole JSON body."""
        payload = error_body(status, body) if isinstance(body, str) else body
        extra = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = str(retry_after)
        self._failures.append(_Failure(status, payload, extra))

    def release(self) -> None:
        """Let hung requests end (with 503)."""
        self._release.set()

    def user_messages(self) -> list[str]:
        """The last user message of every request, in order."""
        result = []
        for request in self.requests:
            users = [m for m in request.get("messages", []) if m.get("role") == "user"]
            result.append(text_of(users[-1]["content"]) if users else "")
        return result

    async def wait_for_requests(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} model requests arrived")
            await asyncio.sleep(0.01)
        return self.requests

    # Server ---------------------------------------------------------------------------
    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        shown = request.headers.get("Authorization", "").removeprefix("Bearer ")
        message = (
            f"Incorrect API key provided: {shown[:3]}***{shown[-4:]}."
            if shown
            else "You didn't provide an API key."
        )
        return web.json_response(error_body(401, message), status=401)

    async def _models(self, request: web.Request) -> web.Response:
        self.models_requests += 1
        if (refused := self._unauthorized(request)) is not None:
            return refused
        if self.models_status is not None:
            status = self.models_status
            return web.json_response(error_body(status, "Not Found"), status=status)
        data = [
            {"id": model, "object": "model", "created": 1700000000, "owned_by": "system"}
            for model in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    def _invalid(self, body: dict[str, Any]) -> web.Response | None:
        """The request errors the real API gives for this body, if any."""
        model = str(body.get("model") or "")
        if not model:
            return web.json_response(
                error_body(400, "you must provide a model parameter"), status=400
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return web.json_response(
                error_body(400, "[] is too short - 'messages'", "messages"), status=400
            )
        if (invalid := self._invalid_images(model, messages)) is not None:
            return invalid
        if self.known_models_only and model not in self.models:
            return web.json_response(
                error_body(
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "model",
                ),
                status=404,
            )
        if self.strict_reasoning_params and model.startswith(REASONING_PREFIXES):
            if "max_tokens" in body:
                return web.json_response(
                    error_body(
                        400,
                        "Unsupported parameter: 'max_tokens' is not supported with this model. "
                        "Use 'max_completion_tokens' instead.",
                        "max_tokens",
                    ),
                    status=400,
                )
            temperature = body.get("temperature")
            if temperature is not None and temperature != 1:
                return web.json_response(
                    error_body(
                        400,
                        f"Unsupported value: 'temperature' does not support {temperature} with "
                        "this model. Only the default (1) value is supported.",
                        "temperature",
                    ),
                    status=400,
                )
        return None

    async def _transcriptions(self, request: web.Request) -> web.Response:
        """Multipart `file` and `model`, answered as the real API: `{"text", "usage"}` for
        json (usage in seconds for whisper-1, in tokens for the gpt-4o models), the
        length too for verbose_json (whisper-1 only), the bare text for text; 400 for
        audio no decoder reads, 413 over 25 MB."""
        if (refused := self._unauthorized(request)) is not None:
            return refused
        fields: dict[str, str] = {}
        audio: bytes | None = None
        file_name = ""
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                file_name = part.filename or ""
                audio = await part.read()
            elif part.name:
                fields[part.name] = await part.text()
        model = fields.get("model", "")
        self.transcriptions.append(
            {"model": model, "file_name": file_name, "size": len(audio or b""), **fields}
        )
        if self._failures:
            failure = self._failures.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if (invalid := self._invalid_audio(model, file_name, audio)) is not None:
            return invalid
        assert audio is not None  # checked above
        heard = decoded(audio)
        if heard is None:
            message = "Audio file might be corrupted or unsupported"
            body = error_body(400, message, "file")
            body["error"]["code"] = "invalid_value"
            return web.json_response(body, status=400)
        seconds = self.audio_seconds(audio) or heard[1]
        by_duration = model in DURATION_BILLED
        response_format = fields.get("response_format", "json")
        if not by_duration and seconds > MAX_TOKEN_MODEL_SECONDS:
            message = (
                f"audio duration {seconds:g} seconds is longer than "
                f"{MAX_TOKEN_MODEL_SECONDS} seconds which is the maximum for this model"
            )
            return web.json_response(error_body(400, message), status=400)
        if response_format == "verbose_json" and not by_duration:
            message = (
                f"response_format 'verbose_json' is not compatible with model '{model}'. "
                "Use 'json' or 'text' instead."
            )
            return web.json_response(error_body(400, message, "response_format"), status=400)
        text = self.transcribe(audio)
        if response_format == "text":
            return web.Response(text=text)
        answer: dict[str, Any] = {"text": text, "usage": transcription_usage(model, seconds, text)}
        if response_format == "verbose_json":
            answer |= {"task": "transcribe", "language": "russian", "duration": seconds}
            answer["segments"] = []
        return web.json_response(answer)

    def _invalid_audio(
        self, model: str, file_name: str, audio: bytes | None
    ) -> web.Response | None:
        """The real API's refusals of a request before it listens to the audio."""
        if not model:
            return web.json_response(
                error_body(400, "you must provide a model parameter", "model"), status=400
            )
        if audio is None:
            return web.json_response(
                error_body(400, "Could not parse multipart form", "file"), status=400
            )
        if len(audio) > MAX_AUDIO_BYTES:
            message = (
                f"Maximum content size limit ({MAX_AUDIO_BYTES}) exceeded ({len(audio)} bytes read)"
            )
            return web.json_response(error_body(413, message), status=413)
        if file_name.rpartition(".")[2].lower() not in AUDIO_FORMATS:
            message = f"Invalid file format. Supported formats: {list(AUDIO_FORMATS)}"
            return web.json_response(error_body(400, message, "file"), status=400)
        if self.known_models_only and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return web.json_response(error_body(404, message, "model"), status=404)
        return None

    def _invalid_images(self, model: str, messages: list[Any]) -> web.Response | None:
        """400 for pictures sent to a model without vision, or that are no valid image."""
        for index, message in enumerate(messages):
            for url in image_urls(message.get("content") if isinstance(message, dict) else None):
                if model not in self.vision_models:
                    text = "Invalid content type. image_url is only supported by certain models."
                    param = f"messages.[{index}].content.[1].type"
                    return web.json_response(error_body(400, text, param), status=400)
                match = IMAGE_URL.match(url)
                try:
                    valid = match is not None and bool(
                        base64.b64decode(match.group(2), validate=True)
                    )
                except binascii.Error:
                    valid = False
                if not valid:
                    text = (
                        "You uploaded an unsupported image. Please make sure your image is below "
                        "20 MB in size and is of one the following formats: "
                        "['png', 'jpeg', 'gif', 'webp']."
                    )
                    return web.json_response(error_body(400, text, "messages"), status=400)
        return None

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._unauthorized(request)) is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                error_body(400, "We could not parse the JSON body."), status=400
            )
        body["_path"] = request.path
        body["_authorization"] = request.headers.get("Authorization")
        self.requests.append(body)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await self._answer(request, body)
        finally:
            self.active -= 1

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if self._failures:
            failure = self._failures.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if (invalid := self._invalid(body)) is not None:
            return invalid
        if self.hang_next:
            self.hang_next -= 1
            await self._release.wait()
            return web.json_response(error_body(503, "released"), status=503)
        text = self.reply(body)
        if inspect.isawaitable(text):
            text = await text
        completion = _Completion(f"chatcmpl-{next(self._ids)}", str(body["model"]), str(text))
        completion.count_prompt(body["messages"])
        if not body.get("stream"):
            if self.delay_first:
                await asyncio.sleep(self.delay_first)
            return web.json_response(completion.whole())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        cut = self.cut_stream_next > 0
        if cut:
            self.cut_stream_next -= 1
        return await self._stream(request, completion, include_usage, cut)

    async def _stream(
        self, request: web.Request, completion: _Completion, include_usage: bool, cut: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)  # headers at once, the first token later
        if self.delay_first:
            await asyncio.sleep(self.delay_first)
        text, size = completion.text, max(1, self.chunk_size)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        if cut:
            pieces = pieces[: max(1, len(pieces) // 2)]
        await response.write(completion.chunk({"role": "assistant", "content": ""}, include_usage))
        for number, piece in enumerate(pieces):
            if self.delay_per_chunk and not (number == 0 and self.first_piece_at_once):
                await asyncio.sleep(self.delay_per_chunk)
            if request.transport is None or request.transport.is_closing():
                self.closed_by_client += 1  # as a real server sees it: no one reads anymore
                return response
            await response.write(completion.chunk({"content": piece}, include_usage))
            self.pieces_sent += 1
        if cut:
            assert request.transport is not None
            request.transport.close()  # flushes what was written, then drops the connection
            return response
        await response.write(completion.chunk({}, include_usage, finish="stop"))
        if include_usage:
            await response.write(completion.usage_chunk())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


class _Completion:
    """One answer, as a whole JSON object or as `chat.completion.chunk` SSE events."""

    def __init__(self, completion_id: str, model: str, text: str) -> None:
        self.id, self.model, self.text = completion_id, model, text
        self.created = int(time.time())
        self.prompt_tokens = 0

    def count_prompt(self, messages: list[dict[str, Any]]) -> None:
        chars = sum(len(text_of(m.get("content"))) for m in messages)
        pictures = sum(len(image_urls(m.get("content"))) for m in messages)
        self.prompt_tokens = chars // 4 + 4 * len(messages) + 765 * pictures  # high detail

    def usage(self) -> dict[str, Any]:
        completion_tokens = len(self.text) // 4 + 1
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def whole(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.text, "refusal": None}
        return self._head("chat.completion") | {
            "choices": [
                {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            ],
            "usage": self.usage(),
        }

    def chunk(self, delta: dict[str, Any], include_usage: bool, finish: str | None = None) -> bytes:
        payload = self._head("chat.completion.chunk") | {
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        }
        if include_usage:
            payload["usage"] = None
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

    def usage_chunk(self) -> bytes:
        payload = self._head("chat.completion.chunk") | {"choices": [], "usage": self.usage()}
        return f"data: {json.dumps(payload)}\n\n".encode()
