"""A Bot API server emulator: aiogram's real Bot talks to it over HTTP, as to Telegram.

It keeps what each chat sees (messages after edits, buttons, files), answers with
Telegram's error texts, long-polls `getUpdates` and lets tests play the user: send
messages, press buttons, pay Stars invoices. Everything runs on 127.0.0.1.

Stars subscriptions: `createInvoiceLink` with `subscription_period` (XTR, one price, only
2592000 s, at most 10000 Stars) gives a `https://t.me/$...` link; `pay_invoice_link` is a
user paying it (pre-checkout, then a `successful_payment` with `is_recurring`,
`is_first_recurring` and `subscription_expiration_date`), `renew_star_subscription`
Telegram charging the next period, `repeat_update` a delivery seen twice;
`editUserStarSubscription` is recorded in `subscription_edits` (400 for a charge id that
is not a subscription's first charge).

Webhooks (`setWebhook`, `deleteWebhook`, `getWebhookInfo`): validated as the Bot API
server does (its error texts); while one is set, `getUpdates` answers 409 and pending
updates are POSTed to it by tests/stubs/webhook_delivery.py (per-chat queues, retries,
`max_connections`); knobs `webhook_timeout`, `webhook_retry_scale`, `webhook_targets`,
and every POST in `webhook_attempts`.

Drafts (`sendMessageDraft`): recorded per chat (`drafts_in`, `visible_draft`), with
flood control (`draft_limit_per_second`, `draft_429_once`); `drafts_supported = False`
plays a server without them (404 "method not found"); `stop_draft` is the user pressing
the draft's stop button (a `stopped_message_generation` update).

    telegram = FakeTelegram()
    await telegram.start()
    bot = Bot(telegram.token, session=AiohttpSession(
        api=TelegramAPIServer.from_base(telegram.base_url)))
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import math
import re
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import PurePosixPath
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from aiohttp import BodyPartReader, web

from tests.stubs.telegram_text import (
    Entity,
    EntityParseError,
    check_entities,
    normalize,
    parse_html,
    utf16_len,
)
from tests.stubs.webhook_delivery import Attempt, Webhook, WebhookDelivery

T = TypeVar("T")


class Packed(Protocol):
    """A button's callback data object (aiogram's CallbackData): what a button does."""

    def pack(self) -> str: ...


def packed(data: str | Packed) -> str:
    return data if isinstance(data, str) else data.pack()


Params = dict[str, Any]

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a specified content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_STARTED = "Forbidden: bot can't initiate conversation with a user"
# Fields that aiogram sends as JSON strings inside a form.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "prices",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "menu_button",
        "message_ids",
        "suggested_tip_amounts",
        "rights",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update types Telegram leaves out unless asked for by name.
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
DRAFT_TTL = 30.0  # a draft is a temporary preview: clients drop it after this long
METHOD_NOT_FOUND = "Not Found: method not found"
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})  # what the Bot API server accepts for https
_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]*")


class ApiError(Exception):
    """An answer with ok=false; `description` is Telegram's text."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(eq=False)
class SentMessage:
    """A bot message as the user sees it now (edits applied; deleted ones disappear)."""

    message_id: int
    chat_id: int
    text: str = ""  # plain text after parsing (the caption for media)
    html: str | None = None  # the raw text as sent, whatever its parse_mode
    parse_mode: str | None = None
    entities: list[Entity] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    kind: str = "text"  # text, photo, document, invoice, copy, forward
    content: str = "text"  # what it shows: text, photo, document, invoice
    edits: int = 0
    document: bytes | None = None  # bytes of an uploaded photo or document
    filename: str | None = None
    file: dict[str, Any] | None = None  # the Bot API file object (photo: largest size)
    extra: dict[str, Any] = field(default_factory=dict)
    date: int = 0
    edit_date: int | None = None
    reply_to_message_id: int | None = None
    link_preview_options: dict[str, Any] | None = None
    history: list[str] = field(default_factory=list)  # texts before each edit, oldest first

    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    def button_for(self, data: str | Packed) -> dict[str, Any]:
        """The button whose callback data is `data` (a CallbackData object or its packed
        string): found by what it does, so a changed label breaks no test."""
        wanted = packed(data)
        for button in self.buttons():
            if button.get("callback_data") == wanted:
                return button
        raise AssertionError(f"no button {wanted!r} in {self.buttons()}")

    def has_button_for(self, data: str | Packed) -> bool:
        wanted = packed(data)
        return any(button.get("callback_data") == wanted for button in self.buttons())

    def data_starting(self, prefix: str) -> str:
        """The callback data of the first button whose data starts with `prefix` (see
        tests.factories.callback_prefix), for data with a part the test cannot know."""
        for button in self.buttons():
            if str(button.get("callback_data", "")).startswith(prefix):
                return str(button["callback_data"])
        raise AssertionError(f"no button starting {prefix!r} in {self.buttons()}")

    def button(self, contains: str) -> dict[str, Any]:
        for button in self.buttons():
            if contains in button.get("text", ""):
                return button
        raise AssertionError(f"no button with {contains!r} in {self.buttons()}")

    def button_data(self, contains: str) -> str:
        for button in self.buttons():
            if contains in button.get("text", "") and "callback_data" in button:
                return str(button["callback_data"])
        raise AssertionError(f"no button with {contains!r} in {self.buttons()}")


@dataclass
class _Chat:
    id: int
    messages: dict[int, SentMessage] = field(default_factory=dict)  # the bot's, by id
    incoming: dict[int, dict[str, Any]] = field(default_factory=dict)  # the user's, as JSON
    next_id: int = 1
    delivered: int = 0
    last_change: float = 0.0
    sends: deque[float] = field(default_factory=deque)  # for the per-chat rate limit
    drafts: list[dict[str, Any]] = field(default_factory=list)  # every draft shown, oldest first
    draft: dict[str, Any] | None = None  # the draft the user sees now (see visible_draft)
    draft_sends: deque[float] = field(default_factory=deque)  # for the draft rate limit
    draft_pause: float = 0.0  # after a 429 on drafts: no draft before this time

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


@dataclass
class _Query:
    """A callback or pre-checkout query waiting for its answer."""

    user_id: int
    created: float
    answer: Params | None = None


class _UpdateQueue:
    """Pending updates, confirmed by `offset`; `allowed_updates` filters at creation."""

    def __init__(self) -> None:
        self.pending: deque[dict[str, Any]] = deque()
        self.by_id: dict[int, dict[str, Any]] = {}
        self.next_id = 1
        self.confirmed = 0  # every update_id below this was confirmed
        self.allowed: frozenset[str] | None = None  # None: Telegram's default set
        self.dropped: list[dict[str, Any]] = []
        self.answered: set[int] = set()  # by the webhook (not through an offset)
        self.changed = asyncio.Event()
        self.generation = 0  # of getUpdates calls: a newer one ends an older one

    def accepts(self, kind: str) -> bool:
        return kind not in NOT_BY_DEFAULT if self.allowed is None else kind in self.allowed

    def push(self, update: dict[str, Any]) -> int:
        update_id = self.next_id
        self.next_id += 1
        update = {"update_id": update_id, **update}
        self.by_id[update_id] = update
        if self.accepts(next(key for key in update if key != "update_id")):
            self.pending.append(update)
            self.changed.set()
        else:
            self.dropped.append(update)
        return update_id

    def confirm(self, offset: int) -> None:
        if offset < 0:  # the last -offset updates; all before them are forgotten
            while len(self.pending) > -offset:
                self.confirmed = self.pending.popleft()["update_id"] + 1
            return
        while self.pending and self.pending[0]["update_id"] < offset:
            self.pending.popleft()
        self.confirmed = max(self.confirmed, offset)

    def set_allowed(self, kinds: Iterable[str]) -> None:
        kinds = frozenset(kinds)
        self.allowed = kinds or None

    def remove(self, update_id: int) -> None:
        """One update answered by the webhook (queues are independent: any order)."""
        for index, update in enumerate(self.pending):
            if update["update_id"] == update_id:
                del self.pending[index]
                break
        self.answered.add(update_id)


def _listening_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _bool(value: Any) -> bool:
    return value in (True, 1, "true", "True", "1")


@dataclass(frozen=True)
class _Described:
    """A result answered with a description ("Webhook was set")."""

    result: Any
    description: str


def _check_webhook_url(url: str) -> None:
    """Refuse a webhook URL as the Bot API server does ("bad webhook: ..." comes from its
    check before setWebhook answers). One difference: plain http to 127.0.0.1 (or
    localhost) on any port is accepted, as a Bot API server in --local mode accepts it:
    the tests have no TLS. Hosts are not resolved."""
    try:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        port = parts.port
    except ValueError:
        raise ApiError(400, "Bad Request: invalid webhook URL specified") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ApiError(400, "Bad Request: invalid webhook URL specified")
    local = host in ("127.0.0.1", "localhost")
    if parts.scheme == "http":
        if not local:
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        return
    if (port or 443) not in WEBHOOK_PORTS:
        raise ApiError(
            400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )
    with contextlib.suppress(ValueError):
        address = ip_address(host)
        if not address.is_global:
            raise ApiError(400, f"Bad Request: bad webhook: IP address {host} is reserved")


class FakeTelegram:
    """The emulator. Knobs and recordings are plain attributes; see the module doc."""

    def __init__(self, token: str = "123456:TEST-token", *, strict_html: bool = True) -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Test Bot",
            "username": "test_ai_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.base_url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._methods = {
            name[3:].lower(): getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }
        self._queue = _UpdateQueue()
        self._chats: dict[int, _Chat] = {}
        self._callbacks: dict[str, _Query] = {}
        self._pre_checkouts: dict[str, _Query] = {}
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Event()
        self.users: dict[int, dict[str, Any]] = {}
        # Recordings.
        self.record_calls = True  # off for big benchmarks: counts are still kept
        self.call_log: list[tuple[str, Params, float]] = []
        self.method_counts: Counter[str] = Counter()
        self.errors: deque[tuple[str, int, str]] = deque(maxlen=1000)
        self.commands: dict[str, list[dict[str, Any]]] = {}  # default scope, by language
        self.scoped_commands: dict[tuple[str, int | None, int | None, str], list[Any]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        # setMyDescription / setMyShortDescription, by language_code ("" for everyone else)
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.bot_settings: dict[str, Params] = {}  # setMyName and the like
        self.chat_actions: list[tuple[int, str, float]] = []
        self.drafts: list[Params] = []  # sendMessageDraft calls answered ok, all chats
        self.draft_rejections: list[tuple[int, float, int]] = []  # 429s: (chat, time, retry)
        self.callback_answers: dict[str, Params] = {}
        self.pre_checkout_answers: dict[str, Params] = {}
        self.charges: dict[str, tuple[int, int]] = {}  # charge id -> (user, amount)
        self.refunds: list[Params] = []
        # The bot's Stars ledger as getStarTransactions lists it, oldest first: incoming
        # payments (a `source`) and refunds (a `receiver`, the id of the payment refunded).
        self.star_transactions: list[dict[str, Any]] = []
        self.invoice_links: list[Params] = []  # createInvoiceLink calls, with their "url"
        # Stars subscriptions by their first charge id: user_id, payload, amount, period,
        # expires, canceled, charges.
        self.star_subscriptions: dict[str, dict[str, Any]] = {}
        self.subscription_edits: list[Params] = []  # editUserStarSubscription calls answered ok
        self.deleted: list[SentMessage] = []
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}  # file_id -> (File, bytes)
        self.file_requests = 0  # getFile calls answered
        self._file_paths: dict[str, bytes] = {}
        self.delivered: dict[int, int] = {}  # messages delivered per chat
        self.sent_total = 0
        self.pollers = 0  # getUpdates calls
        self.unauthorized: list[str] = []  # methods called with a wrong token (answered 401)
        self.poll_ports: dict[int, float] = {}  # client port -> last getUpdates time
        self.webhook: Webhook | None = None  # what setWebhook set
        self.webhook_attempts: list[Attempt] = []  # every POST to the webhook
        self.webhook_timeout = 60.0  # seconds Telegram waits for the webhook's answer
        self.webhook_retry_scale = 1.0  # retry delays (at once, 2 s, 4 s...) times this
        self.webhook_targets: list[str] | None = None  # URLs to POST to in turn instead
        self._delivery: WebhookDelivery | None = None
        # Behaviour and fault injection.
        self.strict_html = strict_html  # a bare '&' is refused (Telegram keeps it)
        self.strict_buttons = False  # press_button must name an existing button
        self.blocked_users: set[int] = set()
        # Users who never opened the private chat: a send there is refused, as Telegram does.
        self.unstarted_users: set[int] = set()
        self.rate_limit_per_second: float | None = None  # all sends together
        self.per_chat_limit_per_second: float | None = None  # sends and edits per chat
        self.rate_limited = 0  # 429 answers given for the global rate
        self.callback_query_ttl: float | None = None  # seconds to answer; None: forever
        self.pre_checkout_ttl: float | None = 10.0
        self._sends: deque[float] = deque()
        self._chat_429: dict[int, int] = {}
        self.drafts_supported = True  # False: sendMessageDraft is "method not found" (404)
        self.draft_limit_per_second: float | None = None  # drafts per chat; then 429
        self._draft_429: dict[int, int] = {}
        self._fail_next: dict[str, deque[ApiError]] = {}
        # Seconds a method's answer is held after Telegram did what it asks (a slow or
        # lost answer: the bot may die before it arrives).
        self.answer_delay: dict[str, float] = {}

    # Server ---------------------------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        """Listen on `port` (0: any free one). After `stop()`, `start(telegram.port)` brings
        the same emulator back on the same address, its state kept: Telegram reachable
        again after an outage."""
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        sock = _listening_socket(port)
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self._closing = True
        self._queue.changed.set()
        await self._stop_delivery()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            self.unauthorized.append(request.match_info["method"])
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        name = request.match_info["method"]
        method = name.lower()
        params = await self._params(request)
        self.method_counts[method] += 1
        if self.record_calls:
            self.call_log.append((name, params, time.monotonic()))
        try:
            handler = self._methods.get(method)
            if handler is None or (method == "sendmessagedraft" and not self.drafts_supported):
                raise ApiError(404, METHOD_NOT_FOUND)
            failures = self._fail_next.get(method)
            if failures:
                raise failures.popleft()
            if method == "getupdates":
                peer = request.transport.get_extra_info("peername") if request.transport else None
                if peer:
                    self.poll_ports[int(peer[1])] = time.monotonic()
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
            if method in self.answer_delay:
                await asyncio.sleep(self.answer_delay[method])
        except ApiError as error:
            self.errors.append((name, error.code, error.description))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": error.code,
                "description": error.description,
            }
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            return web.json_response(body, status=error.code)
        finally:
            self._changed.set()
        if isinstance(result, _Described):
            body = {"ok": True, "result": result.result, "description": result.description}
            return web.json_response(body)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        data = self._file_paths.get(request.match_info["path"])
        if data is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=data, content_type="application/octet-stream")

    async def _params(self, request: web.Request) -> Params:
        params: Params = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader)
                if part.filename:
                    params[part.name or ""] = Upload(
                        part.filename,
                        bytes(await part.read()),
                        part.headers.get("Content-Type", "application/octet-stream"),
                    )
                else:
                    params[part.name or ""] = await part.text()
        elif request.can_read_body:
            params.update({key: str(value) for key, value in (await request.post()).items()})
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.get(value.removeprefix("attach://"))
            elif key in JSON_FIELDS and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    # Test side: the user ----------------------------------------------------------------
    def _user(
        self,
        user_id: int,
        language_code: str | None = "ru",
        first_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        user = self.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Test"}
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        return dict(user)

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(chat_id)
        return chat

    def _chat_json(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            user = self.users.get(chat_id, {})
            chat = {"id": chat_id, "type": "private", "first_name": user.get("first_name", "Test")}
            if "username" in user:
                chat["username"] = user["username"]
            return chat
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def _incoming(
        self,
        user_id: int,
        *,
        language_code: str = "ru",
        first_name: str = "Test",
        username: str | None = None,
        reply_to_message_id: int | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        user = self._user(user_id, language_code, first_name, username)
        chat = self._chat(user_id)
        message: dict[str, Any] = {
            "message_id": chat.new_id(),
            "date": int(time.time()),
            "chat": self._chat_json(user_id),
            "from": user,
            **content,
        }
        replied = self._find_message_json(chat, reply_to_message_id)
        if replied is not None:
            message["reply_to_message"] = replied
        chat.incoming[message["message_id"]] = message
        return message

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue any raw update (without update_id); returns its update_id."""
        update_id = self._queue.push(update)
        self._changed.set()
        if self._delivery is not None:
            self._delivery.wake()
        return update_id

    def group_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        language_code: str = "ru",
        first_name: str = "Test",
        entities: list[Entity] | None = None,
    ) -> int:
        """A member writes in a group (`chat_id` < 0; -100... is a supergroup); with
        `thread_id`, in that forum topic. Mentions (@name) get their entities as Telegram
        computes them. Returns the update_id."""
        if entities is None:
            entities = []
            if text.startswith("/"):
                first = text.split()[0]
                entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(first)})
            command_end = len(text.split()[0]) if text.startswith("/") else 0
            for match in re.finditer(r"@\w+", text):
                if match.start() < command_end:
                    continue  # /cmd@bot is one bot_command entity
                offset = utf16_len(text[: match.start()])
                entities.append(
                    {"type": "mention", "offset": offset, "length": utf16_len(match.group())}
                )
        user = self._user(user_id, language_code, first_name, None)
        chat = self._chat(chat_id)
        chat_json = self._chat_json(chat_id)
        if thread_id is not None:
            chat_json["is_forum"] = True
        message: dict[str, Any] = {
            "message_id": chat.new_id(),
            "date": int(time.time()),
            "chat": chat_json,
            "from": user,
            "text": text,
        }
        if entities:
            message["entities"] = entities
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        replied = self._find_message_json(chat, reply_to_message_id)
        if replied is not None:
            message["reply_to_message"] = replied
        chat.incoming[message["message_id"]] = message
        return self.push_update({"message": message})

    def user_message(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str = "ru",
        first_name: str = "Test",
        username: str | None = None,
        entities: list[Entity] | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """The user writes to the bot in their private chat; returns the update_id."""
        if entities is None and text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(text.split()[0])}]
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        message = self._incoming(
            user_id,
            language_code=language_code,
            first_name=first_name,
            username=username,
            reply_to_message_id=reply_to_message_id,
            **content,
        )
        return self.push_update({"message": message})

    def user_photo(
        self,
        user_id: int,
        caption: str | None = None,
        *,
        data: bytes = b"\x89PNG\r\n\x1a\nfake",
        caption_entities: list[Entity] | None = None,
        **user: Any,
    ) -> int:
        info = self._register_file(data, "photo", "photo.jpg")
        sizes = [
            {**info, "width": 90, "height": 90},
            {**info, "file_id": info["file_id"] + "-m", "width": 320, "height": 320},
        ]
        self.files[info["file_id"] + "-m"] = self.files[info["file_id"]]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        if caption_entities:
            content["caption_entities"] = caption_entities
        return self.push_update({"message": self._incoming(user_id, **content, **user)})

    def user_document(
        self,
        user_id: int,
        file_name: str = "receipt.pdf",
        *,
        data: bytes = b"%PDF-1.4 fake",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        file_size: int | None = None,  # as Telegram reports it (a big file, not stored)
        **user: Any,
    ) -> int:
        info = self._register_file(data, "document", file_name, file_size)
        content: dict[str, Any] = {
            "document": {
                "file_id": info["file_id"],
                "file_unique_id": info["file_unique_id"],
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": info["file_size"],
            }
        }
        if caption:
            content["caption"] = caption
        return self.push_update({"message": self._incoming(user_id, **content, **user)})

    def user_voice(
        self,
        user_id: int,
        data: bytes = b"OggS",
        *,
        duration: int = 3,
        mime_type: str = "audio/ogg",
        size_known: bool = True,  # False: no file_size in the message nor in getFile
        **user: Any,
    ) -> int:
        """A voice message (OGG/Opus, as Telegram's own recorder makes them)."""
        info = self._register_file(data, "voice", "file.oga")
        if not size_known:  # Telegram's file_size is optional
            del info["file_size"], self.files[info["file_id"]][0]["file_size"]
        voice = info | {"duration": duration, "mime_type": mime_type}
        return self.push_update({"message": self._incoming(user_id, voice=voice, **user)})

    def press_button(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        language_code: str = "ru",
        chat_id: int | None = None,
    ) -> str:
        """The user presses an inline button under a message in their private chat (or in
        `chat_id`, a group); returns the callback query id."""
        chat_id = user_id if chat_id is None else chat_id
        message = self._chat(chat_id).messages.get(message_id)
        if self.strict_buttons and (
            message is None
            or all(b.get("callback_data") != callback_data for b in message.buttons())
        ):
            raise AssertionError(f"message {message_id} has no button {callback_data!r}")
        query_id = str(next(self._query_ids))
        self._callbacks[query_id] = _Query(user_id, time.monotonic())
        shown = (
            self._message_json(message)
            if message is not None
            else {"chat": self._chat_json(chat_id), "message_id": message_id, "date": 0}
        )
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id, language_code),
                    "chat_instance": str(user_id),
                    "message": shown,
                    "data": callback_data,
                }
            }
        )
        return query_id

    def press(
        self, user_id: int, message: SentMessage, data: str | Packed, language_code: str = "ru"
    ) -> str:
        """The user presses the button with callback data `data` under `message`."""
        wanted = packed(data)
        message.button_for(wanted)
        return self.press_button(
            user_id, message.message_id, wanted, language_code, message.chat_id
        )

    def pre_checkout(
        self, user_id: int, payload: str, total_amount: int, currency: str = "XTR"
    ) -> str:
        """Telegram asks the bot to confirm a payment; returns the query id."""
        query_id = f"pcq{next(self._query_ids)}"
        self._pre_checkouts[query_id] = _Query(user_id, time.monotonic())
        self.push_update(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "currency": currency,
                    "total_amount": total_amount,
                    "invoice_payload": payload,
                }
            }
        )
        return query_id

    def successful_payment(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        charge_id: str,
        currency: str = "XTR",
        **fields: Any,
    ) -> int:
        """The service message of a completed payment; returns the update_id. A payment
        in Stars also enters the bot's Stars ledger (getStarTransactions)."""
        if currency == "XTR" and charge_id not in self.charges:
            source: dict[str, Any] = {
                "type": "user",
                "transaction_type": "invoice_payment",
                "user": self._user(user_id),
                "invoice_payload": payload,
            }
            if fields.get("is_recurring"):
                source["subscription_period"] = 2592000
            self.star_transactions.append(
                {
                    "id": charge_id,
                    "amount": total_amount,
                    "date": int(time.time()),
                    "source": source,
                }
            )
        self.charges[charge_id] = (user_id, total_amount)
        paid = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
            **fields,
        }
        return self.push_update({"message": self._incoming(user_id, successful_payment=paid)})

    async def pay_invoice_link(
        self, user_id: int, url: str, charge_id: str, timeout: float = 10
    ) -> int | None:
        """The user opens an invoice link and pays: a pre-checkout query first (as Telegram
        asks), then, if the bot said ok, the successful_payment. For a subscription link the
        payment is the subscription's first charge. Returns the payment's update_id, or None
        when the bot refused (its answer is in `pre_checkout_answers`)."""
        link = next((item for item in self.invoice_links if item["url"] == url), None)
        if link is None:
            raise AssertionError(f"no invoice link {url}")
        query_id = self.pre_checkout(user_id, link["payload"], link["amount"], link["currency"])
        answer = await self.wait_for(lambda: self.pre_checkout_answers.get(query_id), timeout)
        if not _bool(answer.get("ok")):
            return None
        period = link["subscription_period"]
        if period is None:
            return self.successful_payment(
                user_id, link["payload"], link["amount"], charge_id, link["currency"]
            )
        expires = int(time.time()) + int(period)
        self.star_subscriptions[charge_id] = {
            "user_id": user_id,
            "payload": link["payload"],
            "amount": link["amount"],
            "period": int(period),
            "expires": expires,
            "canceled": False,
            "charges": [charge_id],
        }
        return self.successful_payment(
            user_id,
            link["payload"],
            link["amount"],
            charge_id,
            link["currency"],
            is_recurring=True,
            is_first_recurring=True,
            subscription_expiration_date=expires,
        )

    def renew_star_subscription(
        self, first_charge_id: str, charge_id: str, *, even_if_canceled: bool = False
    ) -> int:
        """Telegram charges the next period of a subscription (no pre-checkout for a
        renewal); returns the update_id. A cancelled subscription is not renewed unless
        `even_if_canceled` (a charge made just before the cancel, delivered late)."""
        sub = self.star_subscriptions[first_charge_id]
        if sub["canceled"] and not even_if_canceled:
            raise AssertionError("Telegram does not renew a cancelled subscription")
        sub["expires"] += sub["period"]
        sub["charges"].append(charge_id)
        return self.successful_payment(
            sub["user_id"],
            sub["payload"],
            sub["amount"],
            charge_id,
            is_recurring=True,
            subscription_expiration_date=sub["expires"],
        )

    def repeat_update(self, update_id: int) -> int:
        """Deliver an update's content again (a duplicate delivery); returns the new id."""
        update = {k: v for k, v in self.update(update_id).items() if k != "update_id"}
        return self.push_update(update)

    def block_bot(self, user_id: int) -> int:
        """The user blocks the bot: sends fail with 403, a my_chat_member update arrives."""
        self.blocked_users.add(user_id)
        return self._member_update(user_id, "member", "kicked")

    def unblock_bot(self, user_id: int) -> int:
        self.blocked_users.discard(user_id)
        return self._member_update(user_id, "kicked", "member")

    def _member_update(self, user_id: int, old: str, new: str) -> int:
        user = self._user(user_id, None)
        return self.push_update(
            {
                "my_chat_member": {
                    "chat": self._chat_json(user_id),
                    "from": user,
                    "date": int(time.time()),
                    "old_chat_member": {"status": old, "user": self.bot_user},
                    "new_chat_member": {"status": new, "user": self.bot_user}
                    | ({"until_date": 0} if new == "kicked" else {}),
                }
            }
        )

    def stop_draft(
        self, user_id: int, draft_id: int | None = None, message_thread_id: int | None = None
    ) -> int:
        """The user presses the stop button of the draft they see (the bot must have sent
        it with can_stop); with `draft_id`, a stop for that draft whatever is shown (late,
        or for an older draft). Returns the update_id of `stopped_message_generation`."""
        chat = self._chat(user_id)
        if draft_id is None:
            draft = self.visible_draft(user_id)
            if draft is None or not draft["can_stop"]:
                raise AssertionError(f"no draft with a stop button in chat {user_id}: {draft}")
            draft_id, message_thread_id = draft["draft_id"], draft["message_thread_id"]
            if not draft["keep_on_stop"]:
                chat.draft = None
        stopped: dict[str, Any] = {"chat": self._chat_json(user_id), "draft_id": draft_id}
        if message_thread_id is not None:
            stopped["message_thread_id"] = message_thread_id
        return self.push_update({"stopped_message_generation": stopped})

    # Test side: what happened -----------------------------------------------------------
    def drafts_in(self, chat_id: int) -> list[dict[str, Any]]:
        """Drafts sent to the chat (answered ok), oldest first: text, draft_id, time..."""
        chat = self._chats.get(chat_id)
        return list(chat.drafts) if chat else []

    def visible_draft(self, chat_id: int) -> dict[str, Any] | None:
        """The draft the user sees now: the last one, unless a message from the bot came
        after it or it is older than DRAFT_TTL."""
        chat = self._chats.get(chat_id)
        draft = chat.draft if chat else None
        if draft is None or time.monotonic() - draft["time"] > DRAFT_TTL:
            return None
        return draft

    @property
    def allowed_updates(self) -> frozenset[str] | None:
        """The update types the bot's last getUpdates asked for (None: Telegram's default)."""
        return self._queue.allowed

    def messages(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in the chat, oldest first, as they are now."""
        chat = self._chats.get(chat_id)
        return list(chat.messages.values()) if chat else []

    def last_message(self, chat_id: int) -> SentMessage | None:
        chat = self._chats.get(chat_id)
        if not chat or not chat.messages:
            return None
        return chat.messages[next(reversed(chat.messages))]

    def last_id(self, chat_id: int) -> int:
        last = self.last_message(chat_id)
        return last.message_id if last else 0

    def incoming(self, chat_id: int) -> list[dict[str, Any]]:
        """The user's messages in the chat (Bot API JSON)."""
        chat = self._chats.get(chat_id)
        return list(chat.incoming.values()) if chat else []

    def update(self, update_id: int) -> dict[str, Any]:
        return self._queue.by_id[update_id]

    @property
    def pending_updates(self) -> int:
        return len(self._queue.pending)

    @property
    def dropped_updates(self) -> list[dict[str, Any]]:
        """Updates not queued because the bot's allowed_updates left them out."""
        return self._queue.dropped

    def confirmed(self, update_id: int) -> bool:
        """Whether the bot has fetched the update and asked for the ones after it, or
        its webhook answered it with a 2xx."""
        return self._queue.confirmed > update_id or update_id in self._queue.answered

    def calls(self, method: str | None = None) -> list[Params]:
        wanted = method.lower() if method else None
        return [p for name, p, _ in self.call_log if wanted is None or name.lower() == wanted]

    def callback_answer(self, callback_id: str) -> Params | None:
        return self.callback_answers.get(callback_id)

    def commands_for(
        self, scope: str = "default", language_code: str = "", chat_id: int | None = None
    ) -> list[Any]:
        return self.scoped_commands.get((scope, chat_id, None, language_code), [])

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id][1]

    def dump(self, chats: int = 8, per_chat: int = 6) -> str:
        """A readable summary for assertion messages."""
        lines = [
            f"pending updates: {self.pending_updates}, dropped: {len(self.dropped_updates)}, "
            f"getUpdates calls: {self.pollers}, calls: {dict(self.method_counts)}"
        ]
        for chat in list(self._chats.values())[-chats:]:
            lines.append(
                f"chat {chat.id}:" + (f" {len(chat.drafts)} drafts" if chat.drafts else "")
            )
            for message in list(chat.messages.values())[-per_chat:]:
                buttons = [b.get("text") for b in message.buttons()]
                text = message.text if len(message.text) < 300 else message.text[:300] + "…"
                lines.append(
                    f"  #{message.message_id} [{message.kind}, edits={message.edits}] "
                    f"{text!r}" + (f" buttons={buttons}" if buttons else "")
                )
        if self.errors:
            lines.append("last API errors:")
            lines.extend(f"  {m}: {c} {d}" for m, c, d in list(self.errors)[-8:])
        return "\n".join(lines)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10) -> T:
        """Until `predicate()` is truthy; returns its value. Wakes on every API call."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met in {timeout} s\n{self.dump()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_for_message(
        self, chat_id: int, contains: str | None = None, after: int = 0, timeout: float = 10
    ) -> SentMessage:
        """A bot message with id > `after` whose current text contains `contains`."""

        def find() -> SentMessage | None:
            for message in self.messages(chat_id):
                if message.message_id > after and (contains is None or contains in message.text):
                    return message
            return None

        return await self.wait_for(find, timeout)

    async def wait_for_last(self, chat_id: int, contains: str, timeout: float = 10) -> SentMessage:
        """The chat's newest message, once its current text contains `contains`."""

        def newest() -> SentMessage | None:
            last = self.last_message(chat_id)
            return last if last is not None and contains in last.text else None

        return await self.wait_for(newest, timeout)

    async def wait_idle(self, chat_id: int, quiet: float = 0.5, timeout: float = 15) -> None:
        """Until nothing in the chat has been sent, edited or deleted for `quiet` seconds
        (counted from the call at the earliest)."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            chat = self._chats.get(chat_id)
            idle = time.monotonic() - max(started, chat.last_change if chat else 0.0)
            if idle >= quiet:
                return
            if time.monotonic() + (quiet - idle) > deadline:
                raise AssertionError(f"chat {chat_id} did not settle in {timeout} s\n{self.dump()}")
            await asyncio.sleep(quiet - idle)

    # Fault injection --------------------------------------------------------------------
    def per_chat_429_once(self, chat_id: int, retry_after: int = 1) -> None:
        """The next send or edit in the chat gets 429 with this retry_after."""
        self._chat_429[chat_id] = retry_after

    def draft_429_once(self, chat_id: int, retry_after: int = 1) -> None:
        """The next draft in the chat gets 429 with this retry_after; drafts sooner than
        that get 429 again (with the time left), as Telegram's flood control does."""
        self._draft_429[chat_id] = retry_after

    def fail_next(
        self, method: str, error_code: int, description: str, retry_after: int | None = None
    ) -> None:
        """The next call of `method` fails so (queued: call again for several)."""
        queue = self._fail_next.setdefault(method.lower(), deque())
        queue.append(ApiError(error_code, description, retry_after))

    def _guard(self, chat_id: int, *, send: bool = False, edit: bool = False) -> None:
        if chat_id in self.blocked_users:
            raise ApiError(403, BLOCKED)
        if send and chat_id in self.unstarted_users:
            raise ApiError(403, NOT_STARTED)
        if not (send or edit):
            return
        if chat_id in self._chat_429:
            retry = self._chat_429.pop(chat_id)
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
        now = time.monotonic()
        if send and self.rate_limit_per_second is not None:
            _slide(self._sends, now)
            if len(self._sends) >= self.rate_limit_per_second:
                self.rate_limited += 1
                raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
            self._sends.append(now)
        if self.per_chat_limit_per_second is not None:
            sends = self._chat(chat_id).sends
            _slide(sends, now)
            if len(sends) >= self.per_chat_limit_per_second:
                raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
            sends.append(now)

    # Helpers ----------------------------------------------------------------------------
    @staticmethod
    def _int(params: Params, key: str) -> int:
        value = params.get(key)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: {key} is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            if key == "chat_id":
                raise ApiError(400, "Bad Request: chat not found") from None
            raise ApiError(400, f"Bad Request: invalid {key} specified") from None

    def _formatted(
        self, params: Params, key: str = "text", *, required: bool = True
    ) -> tuple[str, list[Entity]]:
        """Text or caption after parse_mode, normalised like Telegram; checks the length."""
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise ApiError(400, "Bad Request: message text is empty")
            return "", []
        raw = str(raw)
        mode = str(params.get("parse_mode") or "").lower()
        entities_key = "entities" if key == "text" else f"{key}_entities"
        try:
            if mode == "html":
                text, entities = parse_html(raw, strict=self.strict_html)
            elif mode in ("markdown", "markdownv2"):
                text, entities = raw, []  # not parsed by the emulator
            elif mode:
                raise ApiError(400, "Bad Request: unsupported parse_mode")
            else:
                text, entities = raw, list(params.get(entities_key) or [])
                check_entities(text, entities)
        except EntityParseError as error:
            raise ApiError(400, str(error)) from None
        text, entities = normalize(text, entities)
        if not text and required:
            raise ApiError(400, "Bad Request: message text is empty")
        limit = 4096 if key == "text" else 1024
        if utf16_len(text) > limit:
            raise ApiError(
                400,
                "Bad Request: message is too long"
                if key == "text"
                else "Bad Request: message caption is too long",
            )
        return text, entities

    @staticmethod
    def _markup(params: Params) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict):
            return None
        rows = markup.get("inline_keyboard")
        if rows is not None:
            for row in rows:
                for button in row:
                    if not button.get("text"):
                        raise ApiError(
                            400,
                            "Bad Request: can't parse inline keyboard button: Text must be non-empty",
                        )
                    if len(button) < 2:
                        raise ApiError(
                            400, "Bad Request: text buttons are unallowed in the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= 64:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not any(rows):
                return None
        return markup

    def _find_message_json(self, chat: _Chat, message_id: int | None) -> dict[str, Any] | None:
        if message_id is None:
            return None
        if message_id in chat.incoming:
            replied = dict(chat.incoming[message_id])
            replied.pop("reply_to_message", None)
            return replied
        if message_id in chat.messages:
            return self._message_json(chat.messages[message_id], nested=True)
        return None

    def _reply_to(self, chat: _Chat, params: Params) -> int | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id, allow = (
                reply.get("message_id"),
                _bool(reply.get("allow_sending_without_reply")),
            )
        else:
            message_id = params.get("reply_to_message_id")
            allow = _bool(params.get("allow_sending_without_reply"))
        if message_id is None:
            return None
        message_id = int(message_id)
        if message_id in chat.messages or message_id in chat.incoming:
            return message_id
        if allow:
            return None
        raise ApiError(400, "Bad Request: message to be replied not found")

    def _register_file(
        self, data: bytes | None, kind: str, filename: str | None, size: int | None = None
    ) -> dict[str, Any]:
        number = next(self._file_ids)
        suffix = PurePosixPath(filename or "").suffix or ".bin"
        file_id, path = f"{kind}-{number}", f"{kind}s/file_{number}{suffix}"
        info = {
            "file_id": file_id,
            "file_unique_id": f"u{kind}{number}",
            "file_size": len(data or b"") if size is None else size,
            "file_path": path,
        }
        self.files[file_id] = (info, data or b"")
        self._file_paths[path] = data or b""
        return {k: info[k] for k in ("file_id", "file_unique_id", "file_size")}

    def _input_file(self, value: Any, kind: str) -> tuple[dict[str, Any], bytes | None, str | None]:
        """An upload, a file_id sent before, or a URL: (file object, bytes, file name)."""
        if isinstance(value, Upload):
            info = self._register_file(value.data, kind, value.filename)
            if kind == "document":
                info |= {"file_name": value.filename, "mime_type": value.content_type}
            return info, value.data, value.filename
        if isinstance(value, str) and value in self.files:
            stored, data = self.files[value]
            info = {k: stored[k] for k in ("file_id", "file_unique_id", "file_size")}
            return info, data, None
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            info = self._register_file(b"", kind, value.rpartition("/")[2])
            return info | {"url": value}, None, None
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _store(self, chat: _Chat, **fields: Any) -> SentMessage:
        message = SentMessage(
            message_id=chat.new_id(), chat_id=chat.id, date=int(time.time()), **fields
        )
        chat.messages[message.message_id] = message
        chat.draft = None  # a message from the bot replaces its draft in the client
        chat.delivered += 1
        self.delivered[chat.id] = chat.delivered
        self.sent_total += 1
        chat.last_change = time.monotonic()
        return message

    def _message_json(self, message: SentMessage, *, nested: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "date": message.date,
            "chat": self._chat_json(message.chat_id),
            "from": self.bot_user,
        }
        if message.edit_date:
            result["edit_date"] = message.edit_date
        text_key, entities_key = "caption", "caption_entities"
        if message.content == "text":
            text_key, entities_key = "text", "entities"
            if message.link_preview_options:
                result["link_preview_options"] = message.link_preview_options
        elif message.content == "photo" and message.file:
            result["photo"] = [{**message.file, "width": 320, "height": 320}]
        elif message.content == "document" and message.file:
            result["document"] = message.file
        elif message.content == "invoice":
            extra = message.extra
            result["invoice"] = {
                "title": extra["title"],
                "description": extra["description"],
                "start_parameter": extra.get("start_parameter") or "",
                "currency": extra["currency"],
                "total_amount": extra["amount"],
            }
        if message.text and message.content != "invoice":
            result[text_key] = message.text
            if message.entities:
                result[entities_key] = message.entities
        if message.kind == "forward" and "origin" in message.extra:
            result["forward_origin"] = message.extra["origin"]
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            result["reply_markup"] = message.reply_markup
        if not nested and message.reply_to_message_id is not None:
            replied = self._find_message_json(
                self._chat(message.chat_id), message.reply_to_message_id
            )
            if replied is not None:
                result["reply_to_message"] = replied
        return result

    def _target(self, params: Params, message_key: str = "message_id") -> tuple[_Chat, SentMessage]:
        chat = self._chat(self._int(params, "chat_id"))
        message = chat.messages.get(self._int(params, message_key))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat, message

    def _edited(self, message: SentMessage) -> dict[str, Any]:
        message.edits += 1
        message.edit_date = int(time.time())
        self._chat(message.chat_id).last_change = time.monotonic()
        return self._message_json(message)

    # Bot API: the bot itself ------------------------------------------------------------
    def _m_getMe(self, params: Params) -> Any:
        return self.bot_user

    def _m_logOut(self, params: Params) -> Any:
        return True

    def _m_close(self, params: Params) -> Any:
        return True

    @property
    def webhook_url(self) -> str:
        return self.webhook.url if self.webhook else ""

    def webhook_posts(self, update_id: int) -> list[Attempt]:
        """The POSTs of one update to the webhook, oldest first."""
        return [attempt for attempt in self.webhook_attempts if attempt.update_id == update_id]

    def _m_getWebhookInfo(self, params: Params) -> Any:
        hook = self.webhook
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": self.pending_updates,
        }
        if hook is not None:
            if hook.last_error_date:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            info["max_connections"] = hook.max_connections
            info["ip_address"] = hook.ip_address or "<unknown>"
        if self._queue.allowed is not None:
            info["allowed_updates"] = sorted(self._queue.allowed)
        return info

    async def _m_setWebhook(self, params: Params) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_deleteWebhook(params)
        secret = str(params.get("secret_token") or "")
        raw_max = params.get("max_connections")
        max_connections = min(max(int(raw_max), 1), 100) if raw_max not in (None, "") else 40
        if _bool(params.get("drop_pending_updates")):
            self._queue.confirm(self._queue.next_id)
        _check_webhook_url(url)
        if len(secret) > 256:
            raise ApiError(400, "Bad Request: secret token is too long")
        if not _SECRET_CHARS.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if isinstance(params.get("allowed_updates"), list):  # omitted: the previous set stays
            self._queue.set_allowed(params["allowed_updates"])
        hook = self.webhook
        if (
            hook is not None
            and (hook.url, hook.secret_token, hook.max_connections)
            == (url, secret, max_connections)
            and self._delivery is not None
        ):
            return _Described(True, "Webhook is already set")
        await self._stop_delivery()
        self.webhook = Webhook(url, secret, max_connections, str(params.get("ip_address") or ""))
        self._delivery = WebhookDelivery(
            self.webhook,
            lambda: list(self._queue.pending),
            self._queue.remove,
            timeout=self.webhook_timeout,
            retry_scale=self.webhook_retry_scale,
            targets=self.webhook_targets,
            attempts=self.webhook_attempts,
        )
        self._delivery.start()
        return _Described(True, "Webhook was set")

    async def _m_deleteWebhook(self, params: Params) -> Any:
        if _bool(params.get("drop_pending_updates")):
            self._queue.confirm(self._queue.next_id)
        was_set = self.webhook is not None
        await self._stop_delivery()
        self.webhook = None
        return _Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _stop_delivery(self) -> None:
        delivery, self._delivery = self._delivery, None
        if delivery is not None:
            await delivery.close()

    async def _m_getUpdates(self, params: Params) -> Any:
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        queue = self._queue
        queue.generation += 1
        me = queue.generation
        queue.changed.set()  # an older long poll still waiting ends with 409
        self.pollers += 1
        if isinstance(params.get("allowed_updates"), list):
            queue.set_allowed(params["allowed_updates"])
        queue.confirm(int(params.get("offset") or 0))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            if queue.generation != me:
                raise ApiError(409, CONFLICT_POLLING)
            if queue.pending or self._closing:
                return list(itertools.islice(queue.pending, limit))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            queue.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.changed.wait(), remaining)

    def _scope_key(self, params: Params) -> tuple[str, int | None, int | None, str]:
        scope = params.get("scope")
        if not isinstance(scope, dict):
            scope = {}
        chat_id, user_id = scope.get("chat_id"), scope.get("user_id")
        return (
            str(scope.get("type", "default")),
            int(chat_id) if chat_id is not None else None,
            int(user_id) if user_id is not None else None,
            str(params.get("language_code") or ""),
        )

    def _m_setMyCommands(self, params: Params) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", "")).removeprefix("/")
            if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.isascii()):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if name != name.lower():
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(params)
        self.scoped_commands[key] = commands
        if key[:3] == ("default", None, None):
            self.commands[key[3]] = commands
        return True

    def _m_getMyCommands(self, params: Params) -> Any:
        return self.scoped_commands.get(self._scope_key(params), [])

    def _m_deleteMyCommands(self, params: Params) -> Any:
        key = self._scope_key(params)
        self.scoped_commands.pop(key, None)
        if key[:3] == ("default", None, None):
            self.commands.pop(key[3], None)
        return True

    def _describe(self, params: Params, field: str, limit: int, into: dict[str, str]) -> bool:
        """setMyDescription (0-512 characters) and setMyShortDescription (0-120): empty
        removes the language's own text, so its users see the default one."""
        text = str(params.get(field) or "")
        language = str(params.get("language_code") or "")
        if language and not (len(language) == 2 and language.isalpha() and language.isascii()):
            raise ApiError(400, "Bad Request: invalid language code specified")
        if len(text) > limit:
            raise ApiError(400, f"Bad Request: {field.replace('_', ' ')} is too long")
        if text:
            into[language] = text
        else:
            into.pop(language, None)
        return True

    def _m_setMyDescription(self, params: Params) -> Any:
        return self._describe(params, "description", 512, self.descriptions)

    def _m_setMyShortDescription(self, params: Params) -> Any:
        return self._describe(params, "short_description", 120, self.short_descriptions)

    def _m_getMyDescription(self, params: Params) -> Any:
        language = str(params.get("language_code") or "")
        return {"description": self.descriptions.get(language, "")}

    def _m_getMyShortDescription(self, params: Params) -> Any:
        language = str(params.get("language_code") or "")
        return {"short_description": self.short_descriptions.get(language, "")}

    def _m_setChatMenuButton(self, params: Params) -> Any:
        chat_id = params.get("chat_id")
        button = params.get("menu_button") or {"type": "default"}
        self.menu_buttons[int(chat_id) if chat_id else None] = button
        return True

    def _m_getChatMenuButton(self, params: Params) -> Any:
        chat_id = params.get("chat_id")
        key = int(chat_id) if chat_id else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "commands"}

    def _setting(self, params: Params, name: str) -> Any:
        self.bot_settings[name] = params
        return True

    def _m_setMyName(self, params: Params) -> Any:
        return self._setting(params, "name")

    def _m_setMyDefaultAdministratorRights(self, params: Params) -> Any:
        return self._setting(params, "default_administrator_rights")

    def _m_getChat(self, params: Params) -> Any:
        chat_id = self._int(params, "chat_id")
        return self._chat_json(chat_id) | {"accent_color_id": 0, "max_reaction_count": 11}

    def _m_getFile(self, params: Params) -> Any:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored[0].get("file_size", len(stored[1])) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        self.file_requests += 1
        return stored[0]

    # Bot API: messages ------------------------------------------------------------------
    def _m_sendChatAction(self, params: Params) -> Any:
        chat_id = self._int(params, "chat_id")
        self._guard(chat_id)
        action = str(params.get("action", ""))
        if action not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((chat_id, action, time.monotonic()))
        return True

    def _m_sendMessageDraft(self, params: Params) -> Any:
        """A draft: a temporary preview of a message being written (private chats only).
        Text 0..4096 after entity parsing; an empty one shows "Thinking…"."""
        chat_id = self._int(params, "chat_id")
        self._guard(chat_id)
        if chat_id <= 0:
            raise ApiError(400, "Bad Request: drafts can be sent only to private chats")
        draft_id = self._int(params, "draft_id")
        if draft_id == 0:
            raise ApiError(400, "Bad Request: draft_id must be non-zero")
        text, entities = self._formatted(params, required=False)
        chat = self._chat(chat_id)
        self._draft_flood(chat)
        thread = params.get("message_thread_id")
        draft = {
            "chat_id": chat_id,
            "draft_id": draft_id,
            "message_thread_id": int(thread) if thread not in (None, "") else None,
            "text": text,
            "entities": entities,
            "html": params.get("text"),
            "parse_mode": params.get("parse_mode"),
            "placeholder": not text,
            "can_stop": _bool(params.get("can_stop")),
            "keep_on_stop": _bool(params.get("keep_on_stop")),
            "time": time.monotonic(),
        }
        self.drafts.append(draft)
        chat.drafts.append(draft)
        chat.draft = draft
        return True

    def _draft_flood(self, chat: _Chat) -> None:
        """429 for drafts: one injected, over `draft_limit_per_second`, or sooner than the
        retry_after of the last one (that 429 carries the time left)."""
        now = time.monotonic()
        retry: int | None = None
        if now < chat.draft_pause:
            retry = max(1, math.ceil(chat.draft_pause - now))
        elif chat.id in self._draft_429:
            retry = self._draft_429.pop(chat.id)
        elif self.draft_limit_per_second is not None:
            _slide(chat.draft_sends, now)
            if len(chat.draft_sends) >= self.draft_limit_per_second:
                retry = 1
        if retry is None:
            chat.draft_sends.append(now)
            return
        chat.draft_pause = max(chat.draft_pause, now + retry)
        self.draft_rejections.append((chat.id, now, retry))
        raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)

    def _m_sendMessage(self, params: Params) -> Any:
        chat = self._chat(self._int(params, "chat_id"))
        self._guard(chat.id, send=True)
        text, entities = self._formatted(params)
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        preview = params.get("link_preview_options")
        if preview is None and _bool(params.get("disable_web_page_preview")):
            preview = {"is_disabled": True}
        message = self._store(
            chat,
            text=text,
            html=str(params["text"]),
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            link_preview_options=preview if isinstance(preview, dict) else None,
        )
        return self._message_json(message)

    def _media(self, params: Params, kind: str) -> Any:
        chat = self._chat(self._int(params, "chat_id"))
        self._guard(chat.id, send=True)
        if params.get(kind) in (None, ""):
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        caption, entities = self._formatted(params, "caption", required=False)
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        info, data, filename = self._input_file(params[kind], kind)
        message = self._store(
            chat,
            text=caption,
            html=params.get("caption"),
            parse_mode=params.get("parse_mode"),
            entities=entities,
            kind=kind,
            content=kind,
            document=data,
            filename=filename,
            file=info,
            reply_markup=markup,
            reply_to_message_id=reply_to,
        )
        return self._message_json(message)

    def _m_sendPhoto(self, params: Params) -> Any:
        return self._media(params, "photo")

    def _m_sendDocument(self, params: Params) -> Any:
        return self._media(params, "document")

    def _source(self, params: Params) -> dict[str, Any]:
        """What a copy or forward shows: content, text, entities, file."""
        source_chat = self._chat(self._int(params, "from_chat_id"))
        message_id = self._int(params, "message_id")
        sent = source_chat.messages.get(message_id)
        if sent is not None:
            return {
                "content": sent.content,
                "text": sent.text,
                "entities": list(sent.entities),
                "file": sent.file,
                "document": sent.document,
                "filename": sent.filename,
                "extra": dict(sent.extra),
                "origin": {"type": "user", "sender_user": self.bot_user, "date": sent.date},
            }
        incoming = source_chat.incoming.get(message_id)
        if incoming is None:
            raise ApiError(400, "Bad Request: message to copy not found")
        if "successful_payment" in incoming:
            raise ApiError(400, "Bad Request: message can't be copied")
        origin = {"type": "user", "sender_user": incoming["from"], "date": incoming["date"]}
        file, content = None, "text"
        if "photo" in incoming:
            file, content = incoming["photo"][-1], "photo"
        elif "document" in incoming:
            file, content = incoming["document"], "document"
        text = incoming.get("text") or incoming.get("caption") or ""
        entities = incoming.get("entities") or incoming.get("caption_entities") or []
        data = self.files[file["file_id"]][1] if file and file["file_id"] in self.files else None
        filename = file.get("file_name") if file else None
        return {
            "content": content,
            "text": text,
            "entities": list(entities),
            "file": file,
            "document": data,
            "filename": filename,
            "extra": {},
            "origin": origin,
        }

    def _m_copyMessage(self, params: Params) -> Any:
        chat = self._chat(self._int(params, "chat_id"))
        self._guard(chat.id, send=True)
        source = self._source(params)
        if "caption" in params and source["content"] != "text":
            source["text"], source["entities"] = self._formatted(params, "caption", required=False)
        message = self._store(
            chat,
            kind="copy",
            content=source["content"],
            text=source["text"],
            entities=source["entities"],
            file=source["file"],
            document=source["document"],
            filename=source["filename"],
            reply_markup=self._markup(params),
            reply_to_message_id=self._reply_to(chat, params),
            extra={
                **source["extra"],
                "from_chat_id": int(params["from_chat_id"]),
                "source_message_id": int(params["message_id"]),
            },
        )
        return {"message_id": message.message_id}

    def _m_forwardMessage(self, params: Params) -> Any:
        chat = self._chat(self._int(params, "chat_id"))
        self._guard(chat.id, send=True)
        source = self._source(params)
        message = self._store(
            chat,
            kind="forward",
            content=source["content"],
            text=source["text"],
            entities=source["entities"],
            file=source["file"],
            document=source["document"],
            filename=source["filename"],
            extra={
                **source["extra"],
                "origin": source["origin"],
                "from_chat_id": int(params["from_chat_id"]),
                "source_message_id": int(params["message_id"]),
            },
        )
        return self._message_json(message)

    def _m_editMessageText(self, params: Params) -> Any:
        if params.get("inline_message_id"):
            return True
        chat, message = self._target(params)
        self._guard(chat.id, edit=True)
        if message.content != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = self._formatted(params)
        markup = self._markup(params)
        if (text, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        message.history.append(message.text)
        message.text, message.entities, message.reply_markup = text, entities, markup
        message.html, message.parse_mode = str(params["text"]), params.get("parse_mode")
        preview = params.get("link_preview_options")
        if isinstance(preview, dict):
            message.link_preview_options = preview
        return self._edited(message)

    def _m_editMessageCaption(self, params: Params) -> Any:
        if params.get("inline_message_id"):
            return True
        chat, message = self._target(params)
        self._guard(chat.id, edit=True)
        if message.content == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = self._formatted(params, "caption", required=False)
        markup = self._markup(params)
        if (caption, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        message.history.append(message.text)
        message.text, message.entities, message.reply_markup = caption, entities, markup
        message.html, message.parse_mode = params.get("caption"), params.get("parse_mode")
        return self._edited(message)

    def _m_editMessageReplyMarkup(self, params: Params) -> Any:
        if params.get("inline_message_id"):
            return True
        chat, message = self._target(params)
        self._guard(chat.id, edit=True)
        markup = self._markup(params)
        if markup == message.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        message.reply_markup = markup
        return self._edited(message)

    def _delete(self, chat: _Chat, message_id: int) -> bool:
        message = chat.messages.pop(message_id, None)
        if message is not None:
            self.deleted.append(message)
        elif chat.incoming.pop(message_id, None) is None:
            return False
        chat.last_change = time.monotonic()
        return True

    def _m_deleteMessage(self, params: Params) -> Any:
        chat = self._chat(self._int(params, "chat_id"))
        if not self._delete(chat, self._int(params, "message_id")):
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _m_deleteMessages(self, params: Params) -> Any:
        chat = self._chat(self._int(params, "chat_id"))
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ApiError(400, "Bad Request: message_ids is empty")
        for message_id in ids:
            self._delete(chat, int(message_id))
        return True

    def _m_answerCallbackQuery(self, params: Params) -> Any:
        query_id = str(params.get("callback_query_id", ""))
        query = self._callbacks.get(query_id)
        if query is None or query.answer is not None:
            raise ApiError(400, QUERY_TOO_OLD)
        if (
            self.callback_query_ttl is not None
            and time.monotonic() - query.created > self.callback_query_ttl
        ):
            raise ApiError(400, QUERY_TOO_OLD)
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        url = params.get("url")  # a bot that is no game opens only its own start links
        if url and not str(url).startswith(f"https://t.me/{self.bot_user['username']}?start="):
            raise ApiError(400, "Bad Request: URL_INVALID")
        query.answer = params
        self.callback_answers[query_id] = params
        return True

    # Bot API: payments ------------------------------------------------------------------
    def _invoice(self, params: Params) -> dict[str, Any]:
        title, description = str(params.get("title", "")), str(params.get("description", ""))
        payload = str(params.get("payload", ""))
        currency = str(params.get("currency", ""))
        prices = params.get("prices")
        if not 1 <= len(title) <= 32:
            raise ApiError(400, "Bad Request: invoice title must be 1-32 characters long")
        if not 1 <= len(description) <= 255:
            raise ApiError(400, "Bad Request: invoice description must be 1-255 characters long")
        if not 1 <= len(payload.encode()) <= 128:
            raise ApiError(400, "Bad Request: invoice payload must be 1-128 bytes long")
        if not isinstance(prices, list) or not prices:
            raise ApiError(400, "Bad Request: prices must be non-empty")
        amounts = [int(price.get("amount", 0)) for price in prices]
        if currency == "XTR":
            if params.get("provider_token"):
                raise ApiError(
                    400, "Bad Request: provider_token must be empty for payments in Telegram Stars"
                )
            if len(prices) != 1:
                raise ApiError(
                    400,
                    "Bad Request: exactly one price must be specified for payments in Telegram Stars",
                )
        if sum(amounts) <= 0:
            raise ApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        return {
            "title": title,
            "description": description,
            "payload": payload,
            "currency": currency,
            "amount": sum(amounts),
            "prices": prices,
            "start_parameter": params.get("start_parameter"),
            "subscription_period": params.get("subscription_period"),
        }

    def _m_sendInvoice(self, params: Params) -> Any:
        chat = self._chat(self._int(params, "chat_id"))
        self._guard(chat.id, send=True)
        invoice = self._invoice(params)
        message = self._store(
            chat,
            kind="invoice",
            content="invoice",
            text=invoice["title"],
            reply_markup=self._markup(params),
            reply_to_message_id=self._reply_to(chat, params),
            extra=invoice,
        )
        return self._message_json(message)

    def _m_createInvoiceLink(self, params: Params) -> Any:
        invoice = self._invoice(params)
        period = invoice["subscription_period"]
        if period is not None:
            if invoice["currency"] != "XTR":
                raise ApiError(
                    400, "Bad Request: subscriptions are available only in Telegram Stars"
                )
            if str(period) != "2592000":
                raise ApiError(400, "Bad Request: SUBSCRIPTION_PERIOD_INVALID")
            if invoice["amount"] > 10000:
                raise ApiError(400, "Bad Request: SUBSCRIPTION_PRICE_INVALID")
            invoice["subscription_period"] = int(period)
        invoice["url"] = f"https://t.me/$invoice{len(self.invoice_links) + 1}"
        self.invoice_links.append(invoice)
        return invoice["url"]

    def _m_editUserStarSubscription(self, params: Params) -> Any:
        charge = str(params.get("telegram_payment_charge_id", ""))
        user_id = self._int(params, "user_id")
        if "is_canceled" not in params:
            raise ApiError(400, "Bad Request: is_canceled is empty")
        sub = self.star_subscriptions.get(charge)
        if sub is None or sub["user_id"] != user_id:
            raise ApiError(400, "Bad Request: CHARGE_ID_INVALID")
        sub["canceled"] = _bool(params["is_canceled"])
        self.subscription_edits.append(params)
        return True

    def _m_answerPreCheckoutQuery(self, params: Params) -> Any:
        query_id = str(params.get("pre_checkout_query_id", ""))
        query = self._pre_checkouts.get(query_id)
        if query is None:
            raise ApiError(400, "Bad Request: QUERY_ID_INVALID")
        late = (
            self.pre_checkout_ttl is not None
            and time.monotonic() - query.created > self.pre_checkout_ttl
        )
        if query.answer is not None or late:
            raise ApiError(400, QUERY_TOO_OLD)
        if "ok" not in params:
            raise ApiError(400, "Bad Request: ok is empty")
        if not _bool(params["ok"]) and not params.get("error_message"):
            raise ApiError(400, "Bad Request: error_message is empty")
        query.answer = params
        self.pre_checkout_answers[query_id] = params
        return True

    def _m_refundStarPayment(self, params: Params) -> Any:
        charge = str(params.get("telegram_payment_charge_id", ""))
        user_id = self._int(params, "user_id")
        if self.charges.get(charge, (None, 0))[0] != user_id:
            raise ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
        if any(r["telegram_payment_charge_id"] == charge for r in self.refunds):
            raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        self.refunds.append(params)
        receiver = {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": self._user(user_id),
        }
        amount = self.charges[charge][1]
        self.star_transactions.append(
            {"id": charge, "amount": amount, "date": int(time.time()), "receiver": receiver}
        )
        return True

    def _m_getStarTransactions(self, params: Params) -> Any:
        """The ledger in chronological order: `offset` transactions skipped, at most `limit`
        (1-100, default 100) returned."""
        offset = int(params.get("offset", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        if offset < 0:
            raise ApiError(400, "Bad Request: OFFSET_INVALID")
        if not 1 <= limit <= 100:
            raise ApiError(400, "Bad Request: LIMIT_INVALID")
        return {"transactions": self.star_transactions[offset : offset + limit]}


def _slide(window: deque[float], now: float) -> None:
    """Keep the last second of timestamps."""
    while window and now - window[0] >= 1.0:
        window.popleft()
