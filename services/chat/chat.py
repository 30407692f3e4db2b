"""Conversations: requests admitted, answers generated into a sink, costed and kept in
the memory; a user's messages queue (inbox); Stop and Retry, on any process (running)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.catalog import Catalog, Model
from services.chat.admission import Admission, Gate, fit_memory
from services.chat.answer import AnswerSink, ImagePart, MediaPart
from services.chat.conversations import ConversationService, NewConversation
from services.chat.costs import answer_units, cost_rub, counted_tokens
from services.chat.inbox import Inbox, Photo, Request, RequestQueue
from services.chat.llm import CONFIG_FAILURES, LLMGateway, ProviderError, StreamEnd, TextDelta
from services.chat.pictures import IMAGE_NOTE, Prompt, data_url, images_to_send, sent_chars
from services.chat.running import LocalAnswers, LocalRetries, RetryMemory, RunningAnswers
from services.limits.access import AccessService
from services.limits.quota import QuotaService
from services.models import ChatTurn, Usage, UserRecord
from services.operator.alerts import AlertService
from services.operator.stats import StatsService
from services.shared.link import SharedStateUnavailableError
from services.storage.base import Storage

logger = logging.getLogger(__name__)

FAILURES_BEFORE_ALERT = 3
PENDING = "pending:"  # a new picture's name until it is kept (never a kept id)


@dataclass(slots=True)
class ChatResult:
    text: str
    model: Model
    usage: Usage | None = None
    error: str | None = None  # ProviderError.kind when the model call failed
    cancelled: bool = False
    media: tuple[MediaPart, ...] = ()  # pictures and sounds of the answer, in order

    @property
    def empty(self) -> bool:
        """Nothing to show: no words, no picture, no sound."""
        return not self.text.strip() and not self.media


class ChatService:
    """Conversations with the models: a request is admitted (see `Gate`), then its
    answer generated into an AnswerSink, costed and kept in the memory."""

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
        inbox: RequestQueue | None = None,
        answers: RunningAnswers | None = None,
        retries: RetryMemory | None = None,
    ) -> None:
        self.conversations = conversations
        self.gate = Gate(catalog, llm, access, quota, stats)
        # Several processes: brings the others' money in before access is checked, so a
        # plan revoked or refunded through another process closes its models at once.
        self.before_admission: Callable[[], Awaitable[object]] | None = None
        self._quota = quota
        self._usd_rub = usd_rub
        self._alerts = alerts
        self._stats = stats
        self._failures_in_row: dict[str, int] = {}
        self._llm = llm
        self._storage = storage
        self._history_max_messages = history_max_messages
        self._active: dict[int, asyncio.Task[ChatResult]] = {}  # answers written here
        # Messages that arrive while an answer is written; where answers run (Stop from
        # another process); the last request and where its answer ends (Retry).
        self.inbox: RequestQueue = inbox or Inbox()
        self.answers: RunningAnswers = answers or LocalAnswers()
        self.retries: RetryMemory = retries or LocalRetries()

    def current_model(self, user: UserRecord) -> Model:
        """The asking user's model (their current conversation's; in groups too)."""
        return self.gate.model_of(user)

    async def answer(
        self,
        user: UserRecord,
        request: Request | str,
        sink: AnswerSink,
        *,
        owner: int | None = None,
        topic: str | None = None,
    ) -> ChatResult:
        """Admit the request (ChatRefusalError when it is not let through), then generate
        its answer into `sink`."""
        admission = await self.admit(user, request, owner=owner, topic=topic)
        return await self.generate(admission, sink)

    async def admit(
        self,
        user: UserRecord,
        request: Request | str,
        *,
        owner: int | None = None,
        topic: str | None = None,
    ) -> Admission:
        """Let a request to the owner's current conversation (the owner is the user), or
        to a group's `topic` conversation, through: checked, counted, its memory fitted to
        the model and its new pictures kept; ChatRefusalError without any model call."""
        request = Request(request) if isinstance(request, str) else request
        owner = user.id if owner is None else owner
        if self.before_admission is not None:
            await self.before_admission()
        if topic is None:
            conversation = await self.conversations.current(owner, user.model_key)
        else:
            conversation = await self.conversations.topic(owner, topic, user.model_key)
        pictures = len(request.photos) + len(request.kept_images)
        model = self.gate.check_request(user, request.text, pictures=pictures)
        history = await self.conversations.history(owner, conversation.id)
        # New pictures are kept only once the request is let through: until then they
        # are named by placeholders (they count the same).
        pending = tuple(f"{PENDING}{index}" for index in range(len(request.photos)))
        question = ChatTurn("user", request.text, (*request.kept_images, *pending))
        cap = self.gate.memory_cap(user, model)  # a free request's memory is bounded
        turns = fit_memory([*history, question], model, self._history_max_messages, cap)
        sent = images_to_send(turns, model)
        chars = sent_chars(turns, sent)  # the memory counts too
        bill_to = await self.gate.take(user, model, chars)  # checked and counted at once
        try:
            fresh = await self._keep_photos(owner, conversation.id, request.photos)
        except OSError:
            await self._quota.give_back(user.id, model, chars)
            raise
        named = dict(zip(pending, fresh, strict=True))
        question = ChatTurn("user", request.text, tuple(named.get(i, i) for i in question.images))
        turns[-1] = question
        sent = [named.get(image, image) for image in sent]
        images = await self._image_urls(owner, conversation.id, sent, fresh)
        instruction = self.conversations.system_prompt(conversation, user.language)
        if instruction:
            turns.insert(0, ChatTurn("system", instruction))
        await self.retries.remember_request(owner, conversation.id, question)
        prompt = Prompt(turns, images, chars)
        return Admission(user, owner, conversation, model, history, prompt, bill_to)

    async def generate(self, admission: Admission, sink: AnswerSink) -> ChatResult:
        """The admitted request's answer, handed to `sink` as it comes; stopped by
        `cancel` (a result marked cancelled), a provider's failure in `error`."""
        task = asyncio.create_task(self._generate(admission, sink))
        owner = admission.owner
        self._active[owner] = task
        token = ""
        try:
            token = await self.answers.begin(owner, task.cancel)
            return await task
        except asyncio.CancelledError:
            task.cancel()  # (already, unless we were cancelled before awaiting it)
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves (shutdown), not by /cancel
            return ChatResult(text="", model=admission.model, cancelled=True)
        finally:
            if self._active.get(owner) is task:
                del self._active[owner]
            await self.answers.end(owner, token)

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

    async def cancel(self, owner: int) -> bool:
        """Stop the owner's answer in progress, on this process or another, and drop what
        queued up behind it; False when there was nothing to stop. Redis away: an answer
        written here still stops (SharedStateUnavailableError otherwise)."""
        try:
            dropped = await self.inbox.drop(owner)
        except SharedStateUnavailableError:
            if self.cancel_here(owner):
                return True
            raise
        if self.cancel_here(owner) or await self.answers.stop(owner):
            return True
        return dropped > 0

    def cancel_here(self, owner: int) -> bool:
        """Stop the owner's answer if this process writes it."""
        task = self._active.get(owner)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def new_conversation(self, user: UserRecord, owner: int | None = None) -> NewConversation:
        """/new: a fresh conversation (same model and mode); the others are kept up to the
        limit."""
        owner = user.id if owner is None else owner
        await self.cancel(owner)
        await self.retries.forget(owner)
        current = await self.conversations.current(owner, user.model_key)
        return await self.conversations.start_new(
            owner, current.model_key or user.model_key, keep_mode_of=current
        )

    async def forget(self, owner: int) -> None:
        """/forget: every conversation of the owner deleted for good."""
        await self.cancel(owner)
        await self.retries.forget(owner)
        await self.conversations.forget(owner)

    async def take_retry(self, owner: int) -> Request | None:
        """The last request again, its answer taken out of the memory (the new one replaces
        it); None when there is nothing to retry (its conversation is gone or not current,
        or after a restart)."""
        last = await self.retries.last_request(owner)
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

    async def _generate(self, admission: Admission, sink: AnswerSink) -> ChatResult:
        user, model, prompt = admission.user, admission.model, admission.prompt
        parts: list[str] = []
        media: list[MediaPart] = []
        usage: Usage | None = None

        async def remember(answer: str) -> None:
            if any(isinstance(part, ImagePart) for part in media):  # the model knows it drew
                answer = f"{IMAGE_NOTE} {answer}".strip()
            turns = [*admission.history, admission.question, ChatTurn("assistant", answer)]
            await self.conversations.remember(
                admission.owner,
                admission.conversation.id,
                turns[-self._history_max_messages :],
                admission.question.content,
            )

        try:
            async for event in self._llm.stream(model, prompt.turns, prompt.images):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                    await sink.add_text(event.text)
                elif isinstance(event, StreamEnd):
                    usage = event.usage
                else:  # a whole picture or sound
                    media.append(event)
                    await event.deliver(sink)
        except asyncio.CancelledError:  # Stop or /cancel: the stream to the provider is closed
            partial = "".join(parts)
            await self._spend(admission, usage, partial, media)
            if partial.strip() or media:  # what the user saw stays in the memory
                await remember(partial)
            raise
        except ProviderError as error:
            logger.warning("Model %s failed for user %s: %s", model.key, user.id, error)
            partial = "".join(parts)
            if partial.strip() or media:  # the user saw part of it: paid for, billed as any
                await self._spend(admission, usage, partial, media)
            else:  # nothing was delivered: the request does not count
                await self._quota.give_back(user.id, model, prompt.chars)
            self._stats.answer(user.id, model, usage, ok=False)
            await self._report_failure(model, error)
            return ChatResult(partial, model, error=error.kind, media=tuple(media))
        answer = "".join(parts)
        self._failures_in_row[model.provider] = 0
        self._stats.answer(user.id, model, usage, ok=True)
        await self._spend(admission, usage, answer, media)
        await remember(answer)
        return ChatResult(answer, model, usage=usage, media=tuple(media))

    async def _spend(
        self, admission: Admission, usage: Usage | None, answer: str, media: list[MediaPart]
    ) -> None:
        """Cost an answer in the catalog's units and bill it (tokens count against the
        plan's monthly allowance)."""
        tokens = counted_tokens(usage, admission.prompt, answer)
        model = admission.model
        cost = cost_rub(model.prices, answer_units(tokens, media), self._usd_rub)
        total = tokens.prompt_tokens + tokens.completion_tokens
        self._stats.spend(admission.user.id, model.key, cost, plan=admission.bill_to)
        await self._quota.count_tokens(admission.user.id, admission.bill_to, total)

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
