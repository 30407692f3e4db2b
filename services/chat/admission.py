"""Admission: whether a request is let through, and on what terms, before anything is
downloaded, paid for or generated. One gate for typed, read and spoken requests: the
asking user's model (their access, its provider), the request's size (the free length
limit, the model's context, pictures only to models that see them), today's quotas, and
the plan it is billed to. A refusal is a ChatRefusalError with its Refusal reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.catalog import Catalog, Model
from services.chat.costs import CHARS_PER_TOKEN
from services.chat.llm import LLMGateway
from services.chat.pictures import IMAGE_CHARS, Prompt, turn_chars
from services.chat.refusals import ChatRefusalError, Refusal, quota_refusal
from services.limits.access import AccessService
from services.limits.quota import QuotaExceededError, QuotaService
from services.models import ChatTurn, Conversation, UserRecord
from services.operator.stats import StatsService

# Speech runs at about 15 characters a second: a free user's request length limit in
# seconds of voice, checked before the (paid) transcription.
SPEECH_CHARS_PER_SECOND = 15


@dataclass(slots=True, frozen=True)
class Admission:
    """A chat request let through and counted (generate it, or give it back): the model
    asked, what it is sent, and the plan its answer is billed to."""

    user: UserRecord
    owner: int  # whose conversation: the user, or the group
    conversation: Conversation
    model: Model
    history: list[ChatTurn]  # the memory before this question
    prompt: Prompt  # the instruction, the memory that fits and the question
    bill_to: str  # a plan id, or FREE

    @property
    def question(self) -> ChatTurn:
        return self.prompt.turns[-1]


@dataclass(slots=True, frozen=True)
class SpeechAdmission:
    """Speech to be transcribed for a request to `model`, counting nothing yet: at most
    `seconds` of it, billed to `bill_to`."""

    user: UserRecord
    model: Model
    bill_to: str
    seconds: int


def input_budget(model: Model) -> int:
    """The characters a model's context holds after its answer budget (the most a
    question may have; the memory fills the rest)."""
    return int((model.context_tokens - model.max_output_tokens) * CHARS_PER_TOKEN)


def fit_memory(
    turns: list[ChatTurn], model: Model, max_messages: int, memory_cap: int | None = None
) -> list[ChatTurn]:
    """The newest turns that fit the model's context after its answer budget, and of
    the memory before the question at most `memory_cap` characters."""
    budget = input_budget(model)
    kept: list[ChatTurn] = []
    used = memory = 0
    for turn in reversed(turns[-max_messages:]):
        chars = turn_chars(turn)
        used += chars
        if kept:
            memory += chars
            if used > budget or (memory_cap is not None and memory > memory_cap):
                break
        kept.append(turn)
    kept.reverse()
    while len(kept) > 1 and kept[0].role != "user":
        kept.pop(0)  # a conversation starts with the user's turn
    return kept


class Gate:
    """The checks every request passes; access and limits are the asking user's, in
    groups too. Only `take` counts anything."""

    def __init__(
        self,
        catalog: Catalog,
        llm: LLMGateway,
        access: AccessService,
        quota: QuotaService,
        stats: StatsService,
    ) -> None:
        self._catalog = catalog
        self._llm = llm
        self._access = access
        self.quota = quota
        self._stats = stats

    def available(self, model: Model) -> bool:
        """Its provider has a key and still serves it."""
        return self._llm.is_available(model)

    def memory_cap(self, user: UserRecord, model: Model) -> int | None:
        """The memory a request of this user to `model` may carry: a free request's is
        the model's `free_memory_chars`; None: what the context holds."""
        if self.quota.limits(user.id, model).kind != "free":
            return None
        return model.free_memory_chars

    def model_of(self, user: UserRecord) -> Model:
        """The asking user's model (their current conversation's; in groups too)."""
        return self._catalog.model(user.model_key) or self._llm.default_model()

    def check_request(self, user: UserRecord, text: str, *, pictures: int = 0) -> Model:
        """The model to ask, or ChatRefusalError; counts nothing."""
        model = self.model_of(user)
        if not text.strip() and not pictures:
            raise ChatRefusalError(Refusal.EMPTY_REQUEST, model)
        self._check_model(user, model, pictures)
        limit = self._access.input_limit(user.id, model)
        if limit is not None and len(text) > limit:
            self._stats.free_limit_refusal()
            raise ChatRefusalError(Refusal.TOO_LONG, model, limit=limit)
        budget = input_budget(model)
        if len(text) + IMAGE_CHARS * pictures > budget:  # the provider would refuse it
            raise ChatRefusalError(Refusal.TOO_LONG_FOR_MODEL, model, limit=budget)
        return model

    def check_ready(self, user: UserRecord, *, pictures: int = 0) -> Model:
        """Whether the user's model would take a request now (access, provider, pictures,
        today's requests), counting nothing: before a download or a paid transcription."""
        model = self.model_of(user)
        self._check_model(user, model, pictures)
        self._check_quota(user, model, 0)
        return model

    def check_fits(self, user: UserRecord, text: str) -> Model:
        """Whether `text` (words heard) would be let through as a request now, counting
        nothing: the request's checks and today's characters."""
        model = self.check_request(user, text)
        self._check_quota(user, model, len(text))
        return model

    async def take(self, user: UserRecord, model: Model, chars: int) -> str:
        """Count a request of `chars` characters (memory and pictures included) and
        return the plan it is billed to; ChatRefusalError when a quota ran out."""
        try:
            return await self.quota.take(user.id, model, chars)
        except QuotaExceededError as exceeded:
            raise quota_refusal(exceeded, model) from None

    # Speech ------------------------------------------------------------------------------
    @property
    def speech_enabled(self) -> bool:
        """The catalog has `[transcription]` and its provider a key."""
        config = self._catalog.transcription
        return config is not None and config.provider in self._llm.configured

    def admit_speech(self, user: UserRecord, seconds: int) -> SpeechAdmission:
        """Whether `seconds` of speech will be transcribed for a request of this user, as
        a typed one would be let through; ChatRefusalError if not. A user without a plan
        is held to what their model's free length limit takes and to the day's free
        seconds, so no transcription is paid for a request that would then be refused."""
        model = self.check_ready(user)
        return self.readmit_speech(user, model, seconds)

    def readmit_speech(self, user: UserRecord, model: Model, seconds: int) -> SpeechAdmission:
        """The speech bounds again for `model`, once more of the length is known."""
        config = self._catalog.transcription
        if config is None or not self.speech_enabled:
            raise ChatRefusalError(Refusal.VOICE_OFF, model)
        bounds = [(config.max_seconds, Refusal.VOICE_TOO_LONG, config.max_seconds)]
        if self.quota.held_to_free(user.id):
            input_limit = self._access.input_limit(user.id, model)
            if input_limit is not None:
                longest = input_limit // SPEECH_CHARS_PER_SECOND
                bounds.append((longest, Refusal.VOICE_TOO_LONG_FREE, longest))
            left = self.quota.speech_left_today(user.id)
            if left is not None:
                bounds.append((left[0], Refusal.VOICE_FREE_DAY, left[1]))
        for allowed, reason, limit in bounds:
            if seconds > allowed:
                raise ChatRefusalError(reason, model, limit=limit)
        most = min(allowed for allowed, _, _ in bounds)
        return SpeechAdmission(user, model, self.quota.plan_of(user.id), most)

    # ------------------------------------------------------------------------------------
    def _check_model(self, user: UserRecord, model: Model, pictures: int) -> None:
        if not self._access.can_use(user.id, model):
            raise ChatRefusalError(Refusal.LOCKED, model)
        if not self._llm.is_available(model):
            raise ChatRefusalError(Refusal.UNAVAILABLE, model)
        if pictures and not model.vision:
            raise ChatRefusalError(Refusal.BLIND, model)

    def _check_quota(self, user: UserRecord, model: Model, chars: int) -> None:
        try:
            self.quota.check(user.id, model, chars)
        except QuotaExceededError as exceeded:
            raise quota_refusal(exceeded, model) from None
