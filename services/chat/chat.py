"""Conversations: who may ask what, the model's memory; a user's messages queue (inbox)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cachetools import LRUCache

from services.catalog import Catalog, Model
from services.chat.conversations import ConversationService, NewConversation
from services.chat.inbox import Inbox, Photo, Request
from services.chat.llm import CONFIG_FAILURES, LLMGateway, ProviderError, TextDelta
from services.chat.pictures import (
    IMAGE_CHARS,
    Prompt,
    data_url,
    images_to_send,
    sent_chars,
    turn_chars,
)
from services.limits.access import AccessService
from services.limits.quota import QuotaExceededError, QuotaService
from services.models import ChatTurn, Conversation, Usage, UserRecord
from services.operator.alerts import AlertService
from services.operator.stats import StatsService
from services.storage.base import Storage

logger = logging.getLogger(__name__)

FAILURES_BEFORE_ALERT = 3

# Rough characters per token for budgeting memory; low so that Cyrillic fits too.
CHARS_PER_TOKEN = 2.5
TRACKED_USERS = 100_000  # per-user Retry state kept in memory, at most
PENDING = "pending:"  # a new picture's name until it is kept (never a kept id)


class ChatRefusalError(Exception):
    """The request is not sent to a model; `reason` picks the text shown to the user."""

    def __init__(
        self,
        reason: str,
        model: Model,
        *,
        limit: int | None = None,
        resets_at: float | None = None,
    ) -> None:
        super().__init__(reason)
        # "locked" | "too_long" | "too_long_for_model" | "unavailable" | "empty_request"
        # | "blind" (pictures to a model that does not see them) | "quota_<kind>_<what>"
        self.reason = reason
        self.model = model
        self.limit = limit
        self.resets_at = resets_at  # quotas: when the day's allowance comes back


def quota_refusal(exceeded: QuotaExceededError, model: Model) -> ChatRefusalError:
    return ChatRefusalError(
        f"quota_{exceeded.limits.kind}_{exceeded.what}",
        model,
        limit=exceeded.limit,
        resets_at=exceeded.resets_at,
    )


def input_budget(model: Model) -> int:
    """The characters a model's context holds after its answer budget (the most a
    question may have; the memory fills the rest)."""
    return int((model.context_tokens - model.max_output_tokens) * CHARS_PER_TOKEN)


@dataclass(slots=True)
class ChatResult:
    text: str
    model: Model
    usage: Usage | None = None
    error: str | None = None  # ProviderError.kind when the model call failed
    cancelled: bool = False


class ChatService:
    def __init__(
        self,
        catalog: Catalog,
        llm: LLMGateway,
        storage: Storage,
        access: AccessService,
        alerts: AlertService,
        stats: StatsService,
        conversations: ConversationService,
        quota: QuotaService,
        *,
        history_max_messages: int = 40,
        usd_rub: float = 95.0,
    ) -> None:
        self.conversations = conversations
        self._quota = quota
        self._usd_rub = usd_rub
        self._alerts = alerts
        self._stats = stats
        self._failures_in_row: dict[str, int] = {}
        self._catalog = catalog
        self._llm = llm
        self._storage = storage
        self._access = access
        self._history_max_messages = history_max_messages
        self._active: dict[int, asyncio.Task[ChatResult]] = {}
        self.inbox = Inbox()  # messages that arrive while an answer is written
        # owner -> (conversation id, question) of the last request, for Retry
        self._last_request: LRUCache[int, tuple[str, ChatTurn]] = LRUCache(TRACKED_USERS)
        # Where each user's last answer ends (chat id, message id): its Retry button.
        self.last_answer: LRUCache[int, tuple[int, int]] = LRUCache(TRACKED_USERS)

    def current_model(self, user: UserRecord) -> Model:
        """The asking user's model (their current conversation's; in groups too)."""
        return self._catalog.model(user.model_key) or self._llm.default_model()

    def check_request(self, user: UserRecord, text: str, *, pictures: int = 0) -> Model:
        """Return the model to ask, or raise ChatRefusalError without any model call.
        Access and limits are the asking user's, in groups too."""
        model = self.current_model(user)
        if not text.strip() and not pictures:
            raise ChatRefusalError("empty_request", model)
        self._check_model(user, model)
        if pictures and not model.vision:
            raise ChatRefusalError("blind", model)
        limit = self._access.input_limit(user.id, model)
        if limit is not None and len(text) > limit:
            self._stats.free_limit_refusal()
            raise ChatRefusalError("too_long", model, limit=limit)
        budget = input_budget(model)
        if len(text) + IMAGE_CHARS * pictures > budget:  # the provider would refuse it
            raise ChatRefusalError("too_long_for_model", model, limit=budget)
        return model

    def check_ready(self, user: UserRecord, *, pictures: int = 0) -> Model:
        """Whether the user's model would take a request now (access, provider, pictures,
        today's requests), counting nothing: before a download or a paid transcription."""
        model = self.current_model(user)
        self._check_model(user, model)
        if pictures and not model.vision:
            raise ChatRefusalError("blind", model)
        try:
            self._quota.check(user.id, model)
        except QuotaExceededError as exceeded:
            raise quota_refusal(exceeded, model) from None
        return model

    def _check_model(self, user: UserRecord, model: Model) -> None:
        if not self._access.can_use(user.id, model):
            raise ChatRefusalError("locked", model)
        if not self._llm.is_available(model):
            raise ChatRefusalError("unavailable", model)

    async def answer(
        self,
        user: UserRecord,
        request: Request | str,
        on_delta: Callable[[str], Awaitable[None]],
        *,
        owner: int | None = None,
        topic: str | None = None,
    ) -> ChatResult:
        """Ask the model of the owner's current conversation (the owner is the user), or of a
        group's `topic` conversation, calling `on_delta` with each piece of the answer."""
        request = Request(request) if isinstance(request, str) else request
        owner = user.id if owner is None else owner
        if topic is None:
            conversation = await self.conversations.current(owner, user.model_key)
        else:
            conversation = await self.conversations.topic(owner, topic, user.model_key)
        pictures = len(request.photos) + len(request.kept_images)
        model = self.check_request(user, request.text, pictures=pictures)
        history = await self.conversations.history(owner, conversation.id)
        # New pictures are kept only once the request is let through: until then they
        # are named by placeholders (they count the same).
        pending = tuple(f"{PENDING}{index}" for index in range(len(request.photos)))
        question = ChatTurn("user", request.text, (*request.kept_images, *pending))
        turns = self._fit_memory([*history, question], model)
        sent = images_to_send(turns, model)
        chars = sent_chars(turns, sent)  # the memory counts too
        try:
            bill_to = self._quota.take(user.id, model, chars)  # no await since the check
        except QuotaExceededError as exceeded:
            raise quota_refusal(exceeded, model) from None
        try:
            fresh = await self._keep_photos(owner, conversation.id, request.photos)
        except OSError:
            self._quota.give_back(user.id, model, chars)
            raise
        named = dict(zip(pending, fresh, strict=True))
        question = ChatTurn("user", request.text, tuple(named.get(i, i) for i in question.images))
        turns[-1] = question
        sent = [named.get(image, image) for image in sent]
        images = await self._image_urls(owner, conversation.id, sent, fresh)
        instruction = self.conversations.system_prompt(conversation, user.language)
        if instruction:
            turns.insert(0, ChatTurn("system", instruction))
        self._last_request[owner] = (conversation.id, question)
        prompt = Prompt(turns, images, chars)
        task = asyncio.create_task(
            self._generate(user, owner, conversation, model, history, prompt, on_delta, bill_to)
        )
        self._active[owner] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves (shutdown), not by /cancel
            return ChatResult(text="", model=model, cancelled=True)
        finally:
            self._active.pop(owner, None)

    async def _keep_photos(
        self, owner: int, conversation_id: str, photos: tuple[Photo, ...]
    ) -> dict[str, Photo]:
        """Keep new pictures in the conversation: id -> picture, in the order sent."""
        kept: dict[str, Photo] = {}
        for photo in photos:
            image_id = await self._storage.save_image(
                owner, conversation_id, photo.data, photo.mime_type
            )
            kept[image_id] = photo
        return kept

    async def _image_urls(
        self, owner: int, conversation_id: str, sent: list[str], fresh: dict[str, Photo]
    ) -> dict[str, str]:
        """Data URLs of the pictures to send: new ones from memory, older ones read back
        (one that is gone stays a note)."""
        urls: dict[str, str] = {}
        for image_id in sent:
            photo = fresh.get(image_id)
            if photo is not None:
                urls[image_id] = data_url(photo.data, photo.mime_type)
                continue
            stored = await self._storage.load_image(owner, conversation_id, image_id)
            if stored is not None:
                urls[image_id] = data_url(*stored)
        return urls

    def cancel(self, owner: int) -> bool:
        """Stop the owner's answer in progress and drop what queued up behind it;
        False when there was nothing to stop."""
        dropped = self.inbox.drop(owner)
        task = self._active.get(owner)
        if task is None or task.done():
            return dropped > 0
        task.cancel()
        return True

    async def new_conversation(self, user: UserRecord, owner: int | None = None) -> NewConversation:
        """/new: a fresh conversation (same model and mode); the others are kept up to the
        limit."""
        owner = user.id if owner is None else owner
        self.cancel(owner)
        self._last_request.pop(owner, None)
        current = await self.conversations.current(owner, user.model_key)
        return await self.conversations.start_new(
            owner, current.model_key or user.model_key, keep_mode_of=current
        )

    async def forget(self, owner: int) -> None:
        """/forget: every conversation of the owner deleted for good."""
        self.cancel(owner)
        self._last_request.pop(owner, None)
        await self.conversations.forget(owner)

    async def take_retry(self, owner: int) -> Request | None:
        """The last request again, its answer taken out of the memory (the new one replaces
        it); None when there is nothing to retry (its conversation is gone or not current,
        or after a restart)."""
        last = self._last_request.get(owner)
        if last is None:
            return None
        conversation_id, question = last
        conversations = await self.conversations.all(owner)
        if conversations.current != conversation_id:
            return None
        history = await self.conversations.history(owner, conversation_id)
        if len(history) >= 2 and history[-2] == question and history[-1].role == "assistant":
            await self._storage.save_history(owner, conversation_id, history[:-2])
        return Request(question.content, kept_images=question.images)

    async def _generate(
        self,
        user: UserRecord,
        owner: int,
        conversation: Conversation,
        model: Model,
        history: list[ChatTurn],
        prompt: Prompt,
        on_delta: Callable[[str], Awaitable[None]],
        bill_to: str,
    ) -> ChatResult:
        question = prompt.turns[-1]
        text = question.content
        parts: list[str] = []
        usage: Usage | None = None

        async def remember(answer: str) -> None:
            turns = [*history, question, ChatTurn("assistant", answer)]
            await self.conversations.remember(
                owner, conversation.id, turns[-self._history_max_messages :], text
            )

        try:
            async for event in self._llm.stream(model, prompt.turns, prompt.images):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                    await on_delta(event.text)
                else:
                    usage = event.usage
        except asyncio.CancelledError:  # Stop or /cancel: the stream to the provider is closed
            partial = "".join(parts)
            self._spend(user.id, model, self._tokens(usage, prompt, partial), bill_to)
            if partial.strip():  # the part the user saw stays in the memory
                await remember(partial)
            raise
        except ProviderError as error:
            logger.warning("Model %s failed for user %s: %s", model.key, user.id, error)
            partial = "".join(parts)
            if partial.strip():  # the user saw part of it: paid for, billed as any answer
                self._spend(user.id, model, self._tokens(usage, prompt, partial), bill_to)
            else:  # nothing was delivered: the request does not count
                self._quota.give_back(user.id, model, prompt.chars)
            self._stats.answer(user.id, model, usage, ok=False)
            await self._report_failure(model, error)
            return ChatResult(text="".join(parts), model=model, error=error.kind)
        answer = "".join(parts)
        self._failures_in_row[model.provider] = 0
        self._stats.answer(user.id, model, usage, ok=True)
        self._spend(user.id, model, self._tokens(usage, prompt, answer), bill_to)
        await remember(answer)
        return ChatResult(text=answer, model=model, usage=usage)

    @staticmethod
    def _tokens(usage: Usage | None, prompt: Prompt, answer: str) -> Usage:
        """The provider's token counts, or counted from the text when the stream gave none."""
        if usage is not None:
            return usage
        chars = prompt.chars + sum(len(t.content) for t in prompt.turns if t.role == "system")
        return Usage(round(chars / CHARS_PER_TOKEN), round(len(answer) / CHARS_PER_TOKEN))

    def _cost(self, model: Model, usage: Usage) -> float | None:
        """The answer's cost in RUB; None when the model has no price (unknown, not zero)."""
        if model.price_input is None or model.price_output is None:
            return None
        usd = usage.prompt_tokens * model.price_input + usage.completion_tokens * model.price_output
        return usd / 1_000_000 * self._usd_rub

    def _spend(self, user_id: int, model: Model, usage: Usage, bill_to: str) -> None:
        tokens = usage.prompt_tokens + usage.completion_tokens
        cost = self._cost(model, usage)
        self._stats.spend(user_id, model.key, cost, plan=bill_to, tokens=tokens)

    def _fit_memory(self, turns: list[ChatTurn], model: Model) -> list[ChatTurn]:
        """Keep the newest turns that fit the model's context after its answer budget."""
        budget = input_budget(model)
        kept: list[ChatTurn] = []
        used = 0
        for turn in reversed(turns[-self._history_max_messages :]):
            used += turn_chars(turn)
            if kept and used > budget:
                break
            kept.append(turn)
        kept.reverse()
        while len(kept) > 1 and kept[0].role != "user":
            kept.pop(0)  # a conversation starts with the user's turn
        return kept

    async def _report_failure(self, model: Model, error: ProviderError) -> None:
        """Alert admins about configuration problems and runs of provider failures."""
        count = self._failures_in_row[model.provider] = (
            self._failures_in_row.get(model.provider, 0) + 1
        )
        if error.kind in CONFIG_FAILURES or count >= FAILURES_BEFORE_ALERT:
            text = self._llm.alert_text(model.provider, error.kind) or (  # <NAME>_PROXY fixes
                f"Provider {model.provider} failed for model {model.key} "
                f"({model.model_id}): {error.kind}, {count} failure(s) in a row"
            )
            await self._alerts.alert(f"provider:{model.provider}:{error.kind}", text)
