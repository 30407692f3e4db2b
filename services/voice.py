"""Voice, audio and round video messages to text, through the catalog's `[transcription]`
provider; the text is then asked like a typed question. Each transcription is costed
(USD per minute) and billed like an answer: to the user's plan, or the free tier."""

from __future__ import annotations

import logging

from services.access import AccessService
from services.alerts import AlertService
from services.catalog import Catalog, Model, Transcription
from services.llm import CONFIG_FAILURES, LLMGateway, ProviderError
from services.stats import FREE, StatsService

logger = logging.getLogger(__name__)

# Failures the operator must fix; a 400 here is one odd audio file, not a setting.
ALERTED = CONFIG_FAILURES - {"bad_request"}
VOICE_KEY = "_voice"  # the "model" transcription costs are kept under (no catalog key)


# Speech runs at about 15 characters a second: a free user's request length limit in
# seconds of voice, checked before the (paid) transcription.
SPEECH_CHARS_PER_SECOND = 15


class VoiceRefusalError(Exception):
    """Not transcribed; `reason`: "off" (no [transcription], or its provider has no key),
    "too_long" (over `limit` seconds), "too_long_free" (over the `limit` seconds a free
    request's length allows) or "free_day" (the free `limit` seconds of today are used)."""

    def __init__(self, reason: str, limit: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


class VoiceService:
    def __init__(
        self,
        catalog: Catalog,
        llm: LLMGateway,
        access: AccessService,
        stats: StatsService,
        alerts: AlertService,
        *,
        usd_rub: float,
        exempt: frozenset[int] = frozenset(),
    ) -> None:
        self._alerts = alerts
        self._exempt = exempt  # admins: no free-tier bounds
        self._config: Transcription | None = catalog.transcription
        self._llm = llm
        self._access = access
        self._stats = stats
        self._usd_rub = usd_rub

    @property
    def enabled(self) -> bool:
        config = self._config
        return config is not None and config.provider in self._llm.configured

    def check(self, user_id: int, duration: int, model: Model) -> None:
        """Before downloading: VoiceRefusalError if this message will not be transcribed.
        A user without a plan is held to what their model's free length limit can take
        and to the free seconds of the day, so no transcription is paid for a request
        that would then be refused, or without bound."""
        config = self._config
        if config is None or not self.enabled:
            raise VoiceRefusalError("off")
        if duration > config.max_seconds:
            raise VoiceRefusalError("too_long", config.max_seconds)
        if not self._held_to_free(user_id):
            return
        input_limit = self._access.input_limit(user_id, model)
        if input_limit is not None and duration * SPEECH_CHARS_PER_SECOND > input_limit:
            raise VoiceRefusalError("too_long_free", input_limit // SPEECH_CHARS_PER_SECOND)
        daily = config.free_daily_seconds
        _, used = self._stats.used_today(user_id, VOICE_KEY)
        if daily is not None and used + duration > daily:
            raise VoiceRefusalError("free_day", daily)

    def free_seconds_left(self, user_id: int) -> tuple[int, int] | None:
        """(seconds of speech left today, the day's free seconds) for a user without a
        plan; None when voice has no daily bound for them."""
        config = self._config
        if config is None or not self.enabled or config.free_daily_seconds is None:
            return None
        if not self._held_to_free(user_id):
            return None
        _, used = self._stats.used_today(user_id, VOICE_KEY)
        return max(0, config.free_daily_seconds - used), config.free_daily_seconds

    async def transcribe(self, user_id: int, audio: bytes, file_name: str, duration: int) -> str:
        """The words in `audio` ("" if none were heard); ProviderError when it failed."""
        config = self._config
        if config is None:
            raise VoiceRefusalError("off")
        try:
            text = await self._llm.transcribe(config.provider, config.model_id, audio, file_name)
        except ProviderError as error:
            logger.warning("Transcription failed for user %s: %s", user_id, error.kind)
            if error.kind in ALERTED:  # the operator must act: a key, a model id, a proxy
                text = self._llm.alert_text(config.provider, error.kind) or (
                    f"Voice transcription through {config.provider} ({config.model_id}) "
                    f"failed: {error.kind}. Check the key and [transcription] in the catalog."
                )
                await self._alerts.alert(f"transcription:{error.kind}", text)
            raise
        self._stats.spend(user_id, VOICE_KEY, self.cost(duration), plan=self._bill_to(user_id))
        self._stats.count_request(user_id, VOICE_KEY, duration)  # seconds heard today
        return text

    def cost(self, duration: int) -> float | None:
        """RUB for `duration` seconds; None when the catalog gives no price."""
        config = self._config
        if config is None or config.price_per_minute is None:
            return None
        return config.price_per_minute * duration / 60 * self._usd_rub

    def _held_to_free(self, user_id: int) -> bool:
        """A user without a plan (admins aside) gets the free bounds on voice."""
        return user_id not in self._exempt and not self._access.active_plans(user_id)

    def _bill_to(self, user_id: int) -> str:
        plans = self._access.active_plans(user_id)
        return plans[0].id if plans else FREE
