"""A Bot API server emulator: aiogram's real Bot talks to it over HTTP, as to Telegram.

It keeps what each chat sees (messages after edits, buttons, documents), answers
with Telegram's real error texts, long-polls `getUpdates`, and lets tests play the
user: send messages, press buttons, pay Stars invoices.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

T = TypeVar("T")

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "a",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a specified content and reply markup of the message"
)


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class SentMessage:
    """A message as the user sees it now."""

    message_id: int
    chat_id: int
    text: str = ""  # plain text after parsing (caption for media)
    html: str | None = None  # the raw text as sent
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    kind: str = "text"  # text, photo, document, invoice, copy
    edits: int = 0
    document: bytes | None = None
    filename: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    def button_data(self, contains: str) -> str:
        for button in self.buttons():
            if contains in button.get("text", "") and "callback_data" in button:
                return str(button["callback_data"])
        raise AssertionError(f"no button with {contains!r} in {self.buttons()}")


class _HtmlToText(HTMLParser):
    """Validates Telegram's HTML subset and returns the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = f'Unmatched end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def parse_html(text: str) -> str:
    if re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        raise ApiError(400, "Bad Request: can't parse entities: Character '&' is reserved")
    if re.search(r"<(?![a-zA-Z/])", text):
        raise ApiError(400, "Bad Request: can't parse entities: Character '<' is reserved")
    parser = _HtmlToText()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.stack:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    if parser.error:
        raise ApiError(400, f"Bad Request: can't parse entities: {parser.error}")
    return "".join(parser.parts)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Test Bot",
            "username": "test_ai_bot",
        }
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._chats: dict[int, dict[int, SentMessage]] = {}
        self.call_log: list[tuple[str, dict[str, Any], float]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.pre_checkout_answers: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.pollers = 0
        self._closing = False
        # Fault injection.
        self.blocked_users: set[int] = set()
        self.rate_limit_per_second: float | None = None
        self._sends_this_second: list[float] = []
        self.rate_limited = 0  # 429 answers given for the global rate
        self._chat_429: dict[int, int] = {}
        self._fail_next: dict[str, list[tuple[int, str]]] = {}
        self.delivered: dict[int, int] = {}
        self.record_calls = True

    # Server ---------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        port = _free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._closing = True
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await self._params(request)
        if self.record_calls:
            self.call_log.append((method, params, time.monotonic()))
        handler = getattr(self, f"_m_{method}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            failures = self._fail_next.get(method)
            if failures:
                code, description = failures.pop(0)
                raise ApiError(code, description)
            result = await handler(params)
        except ApiError as error:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": error.code,
                "description": error.description,
            }
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            return web.json_response(body, status=error.code)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
            return params
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader)
                name = part.name or ""
                if part.filename:
                    params[name] = {"filename": part.filename, "data": await part.read()}
                else:
                    params[name] = await part.text()
        else:
            params.update({key: str(value) for key, value in (await request.post()).items()})
        for key in (
            "reply_markup",
            "entities",
            "allowed_updates",
            "commands",
            "prices",
            "scope",
            "reply_parameters",
            "link_preview_options",
        ):
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    # Test side: the user -----------------------------------------------------------------
    def _user(
        self,
        user_id: int,
        language_code: str = "ru",
        first_name: str = "Test",
        username: str | None = None,
    ) -> dict[str, Any]:
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }
        if username:
            user["username"] = username
        self.users[user_id] = user
        return user

    def _push(self, update: dict[str, Any]) -> int:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._new_update.set()
        return int(update["update_id"])

    def _incoming(self, user_id: int, **fields: Any) -> dict[str, Any]:
        language = fields.pop("language_code", "ru")
        user = self._user(
            user_id, language, fields.pop("first_name", "Test"), fields.pop("username", None)
        )
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
            "from": user,
            **fields,
        }

    def user_message(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str = "ru",
        first_name: str = "Test",
        username: str | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> int:
        if entities is None and text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        message = self._incoming(
            user_id,
            text=text,
            language_code=language_code,
            first_name=first_name,
            username=username,
        )
        if entities:
            message["entities"] = entities
        return self._push({"message": message})

    def user_photo(self, user_id: int, caption: str | None = None, **kwargs: Any) -> int:
        photo = [
            {
                "file_id": f"photo{user_id}",
                "file_unique_id": f"u{user_id}",
                "width": 90,
                "height": 90,
            }
        ]
        message = self._incoming(user_id, photo=photo, **kwargs)
        if caption:
            message["caption"] = caption
        return self._push({"message": message})

    def user_document(self, user_id: int, file_name: str = "receipt.pdf", **kwargs: Any) -> int:
        document = {
            "file_id": f"doc{user_id}",
            "file_unique_id": f"d{user_id}",
            "file_name": file_name,
        }
        return self._push({"message": self._incoming(user_id, document=document, **kwargs)})

    def press_button(
        self, user_id: int, message_id: int, callback_data: str, language_code: str = "ru"
    ) -> str:
        query_id = str(next(self._callback_ids))
        message = self._chats.get(user_id, {}).get(message_id)
        shown = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": self.bot_user,
            "text": message.text if message else "…",
        }
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id, language_code),
                    "chat_instance": "1",
                    "message": shown,
                    "data": callback_data,
                }
            }
        )
        return query_id

    def pre_checkout(
        self, user_id: int, payload: str, total_amount: int, currency: str = "XTR"
    ) -> str:
        query_id = f"pcq{next(self._callback_ids)}"
        self._push(
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
        self, user_id: int, payload: str, total_amount: int, charge_id: str, currency: str = "XTR"
    ) -> int:
        paid = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        return self._push({"message": self._incoming(user_id, successful_payment=paid)})

    # Test side: what the user sees -------------------------------------------------------
    def messages(self, chat_id: int) -> list[SentMessage]:
        return list(self._chats.get(chat_id, {}).values())

    def last_message(self, chat_id: int) -> SentMessage | None:
        messages = self.messages(chat_id)
        return messages[-1] if messages else None

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return [params for name, params, _ in self.call_log if method is None or name == method]

    def callback_answer(self, callback_id: str) -> dict[str, Any] | None:
        return self.callback_answers.get(callback_id)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                dump = {chat: [m.text[:200] for m in self.messages(chat)] for chat in self._chats}
                raise AssertionError(f"condition not met in {timeout} s; chats: {dump}")
            await asyncio.sleep(0.02)

    async def wait_for_message(
        self, chat_id: int, contains: str | None = None, after: int = 0, timeout: float = 10
    ) -> SentMessage:
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
        """Wait until nothing in the chat has changed for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        state = None
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            current = [(m.message_id, m.text, m.edits) for m in self.messages(chat_id)]
            if current != state:
                state, stable_since = current, time.monotonic()
            elif time.monotonic() - stable_since >= quiet:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("chat did not settle")

    def last_id(self, chat_id: int) -> int:
        last = self.last_message(chat_id)
        return last.message_id if last else 0

    # Fault injection -----------------------------------------------------------------------
    def per_chat_429_once(self, chat_id: int, retry_after: int = 1) -> None:
        self._chat_429[chat_id] = retry_after

    def fail_next(self, method: str, error_code: int, description: str) -> None:
        self._fail_next.setdefault(method, []).append((error_code, description))

    def _check_send(self, chat_id: int) -> None:
        if chat_id in self.blocked_users:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self._chat_429:
            raise ApiError(
                429, "Too Many Requests: retry after 1", retry_after=self._chat_429.pop(chat_id)
            )
        if self.rate_limit_per_second is not None:
            now = time.monotonic()
            window = self._sends_this_second
            while window and now - window[0] > 1.0:
                window.pop(0)
            if len(window) >= self.rate_limit_per_second:
                self.rate_limited += 1
                raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
            window.append(now)

    def _text(self, params: dict[str, Any], key: str = "text", limit: int = 4096) -> str:
        raw = str(params.get(key, ""))
        text = parse_html(raw) if params.get("parse_mode") == "HTML" else raw
        if key == "text" and not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > limit:
            raise ApiError(
                400,
                "Bad Request: message is too long"
                if key == "text"
                else "Bad Request: message caption is too long",
            )
        return text

    def _check_markup(self, markup: dict[str, Any] | None) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _store(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        message = SentMessage(message_id=next(self._message_ids), chat_id=chat_id, **fields)
        self._chats.setdefault(chat_id, {})[message.message_id] = message
        self.delivered[chat_id] = self.delivered.get(chat_id, 0) + 1
        return self._message_json(message)

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": {"id": message.chat_id, "type": "private"},
            "from": self.bot_user,
        }
        if message.kind == "text":
            result["text"] = message.text
        if message.reply_markup:
            result["reply_markup"] = message.reply_markup
        return result

    # Bot API methods ------------------------------------------------------------------------
    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot_user

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        self.pollers += 1
        offset = int(params.get("offset", 0) or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + timeout
        while True:
            ready = [u for u in self._updates if not allowed or any(kind in u for kind in allowed)]
            if ready or self._closing or time.monotonic() >= deadline:
                return ready[:limit]
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands[params.get("language_code") or ""] = params.get("commands", [])
        return True

    async def _m_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(params.get("language_code") or "", [])

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(params.get("language_code") or "", None)
        return True

    async def _m_setChatMenuButton(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        if int(params["chat_id"]) in self.blocked_users:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return True

    async def _m_sendMessageDraft(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        self._check_send(chat_id)
        text = self._text(params)
        self._check_markup(params.get("reply_markup"))
        return self._store(
            chat_id,
            text=text,
            html=params.get("text"),
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
        )

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self._chats.get(chat_id, {}).get(int(params["message_id"]))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if chat_id in self._chat_429:
            raise ApiError(
                429, "Too Many Requests: retry after 1", retry_after=self._chat_429.pop(chat_id)
            )
        text = self._text(params)
        markup = params.get("reply_markup")
        self._check_markup(markup)
        if text == message.text and markup == message.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        message.text, message.html, message.parse_mode = (
            text,
            params.get("text"),
            params.get("parse_mode"),
        )
        message.reply_markup = markup
        message.edits += 1
        return self._message_json(message)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        message = self._chats.get(int(params["chat_id"]), {}).get(int(params["message_id"]))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if markup == message.reply_markup or (not markup and not message.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        message.reply_markup = markup or None
        message.edits += 1
        return self._message_json(message)

    async def _m_deleteMessage(self, params: dict[str, Any]) -> Any:
        chat = self._chats.get(int(params["chat_id"]), {})
        if chat.pop(int(params["message_id"]), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers[str(params["callback_query_id"])] = params
        return True

    async def _media(self, params: dict[str, Any], kind: str) -> Any:
        chat_id = int(params["chat_id"])
        self._check_send(chat_id)
        upload = params.get(kind)
        if isinstance(upload, str) and upload.startswith("attach://"):
            upload = params.get(upload.removeprefix("attach://"))
        caption = self._text(params, "caption", 1024) if params.get("caption") else ""
        data = upload.get("data") if isinstance(upload, dict) else None
        name = upload.get("filename") if isinstance(upload, dict) else None
        return self._store(
            chat_id,
            text=caption,
            kind=kind,
            document=data,
            filename=name,
            reply_markup=params.get("reply_markup"),
        )

    async def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        return await self._media(params, "photo")

    async def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        return await self._media(params, "document")

    async def _m_copyMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        self._check_send(chat_id)
        source = self._chats.get(int(params["from_chat_id"]), {}).get(int(params["message_id"]))
        text = source.text if source else f"copy of {params['from_chat_id']}:{params['message_id']}"
        stored = self._store(
            chat_id,
            text=text,
            kind="copy",
            extra={
                "from_chat_id": int(params["from_chat_id"]),
                "source_message_id": int(params["message_id"]),
            },
        )
        return {"message_id": stored["message_id"]}

    async def _m_forwardMessage(self, params: dict[str, Any]) -> Any:
        return await self._m_copyMessage(params)

    async def _m_sendInvoice(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        self._check_send(chat_id)
        payload = str(params.get("payload", ""))
        if not 1 <= len(payload.encode()) <= 128:
            raise ApiError(400, "Bad Request: invoice payload is invalid")
        prices = params.get("prices") or []
        if params.get("currency") == "XTR" and (len(prices) != 1 or params.get("provider_token")):
            raise ApiError(400, "Bad Request: invalid Stars invoice")
        return self._store(
            chat_id,
            text=str(params.get("title", "")),
            kind="invoice",
            extra={
                "payload": payload,
                "currency": params.get("currency"),
                "amount": sum(int(p["amount"]) for p in prices),
                "description": params.get("description"),
            },
        )

    async def _m_createInvoiceLink(self, params: dict[str, Any]) -> Any:
        return f"https://t.me/$invoice{next(self._callback_ids)}"

    async def _m_answerPreCheckoutQuery(self, params: dict[str, Any]) -> Any:
        self.pre_checkout_answers[str(params["pre_checkout_query_id"])] = params
        return True

    async def _m_refundStarPayment(self, params: dict[str, Any]) -> Any:
        charge = str(params.get("telegram_payment_charge_id"))
        if any(r["telegram_payment_charge_id"] == charge for r in self.refunds):
            raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        self.refunds.append(params)
        return True


def unescape(text: str) -> str:
    return html.unescape(text)
