"""Voice, audio and round video messages to text, through the catalog's `[transcription]`
provider; the text is then asked like a typed question. Each transcription is costed
(USD per minute) and billed like an answer: to the user's plan, or the free tier.

A message's declared duration is the sender's word: the length checked, counted and
costed is the longest of that, what the file's size allows at its kind's highest
plausible byte rate (before download), what its own header says (after download) and
what the provider reports (after transcription)."""

from __future__ import annotations

import io
import logging
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from services.catalog import Catalog, Model, Transcription
from services.chat.llm import CONFIG_FAILURES, LLMGateway, ProviderError
from services.limits.access import AccessService
from services.operator.alerts import AlertService
from services.operator.stats import FREE, StatsService

logger = logging.getLogger(__name__)

# Failures the operator must fix; a 400 here is one odd audio file, not a setting.
ALERTED = CONFIG_FAILURES - {"bad_request"}
VOICE_KEY = "_voice"  # the "model" transcription costs are kept under (no catalog key)


# Speech runs at about 15 characters a second: a free user's request length limit in
# seconds of voice, checked before the (paid) transcription.
SPEECH_CHARS_PER_SECOND = 15

SpeechKind = Literal["voice", "audio", "video_note"]
# The most bytes a second of each kind plausibly takes, generously: a file bigger than
# its declared length allows at this rate is longer than it says.
MAX_BYTES_PER_SECOND: Final[Mapping[SpeechKind, int]] = {
    "voice": 16_000,  # OGG/Opus at 128 kbit/s; Telegram's own are 16-32 kbit/s
    "audio": 200_000,  # 1.6 Mbit/s: CD-quality WAV (1411 kbit/s) fits
    "video_note": 1_000_000,  # 8 Mbit/s; Telegram's round videos are about 1-2 Mbit/s
}
# What a second typically takes: the estimate when neither the file nor the provider
# tells the length.
TYPICAL_BYTES_PER_SECOND: Final[Mapping[SpeechKind, int]] = {
    "voice": 4_000,  # 32 kbit/s
    "audio": 16_000,  # 128 kbit/s MP3
    "video_note": 250_000,  # 2 Mbit/s
}
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what Telegram lets bots download


@dataclass(slots=True, frozen=True)
class Clip:
    """A voice-like message as Telegram describes it, before download."""

    kind: SpeechKind
    declared: int  # seconds, as the message says
    size: int | None = None  # bytes, as Telegram says (None: not told)

    @property
    def least_seconds(self) -> int:
        """The declared length, or more when the size says so (at least a second)."""
        return max(1, self.declared, size_seconds(self.kind, self.size or 0))


@dataclass(slots=True, frozen=True)
class Recording:
    """A downloaded voice-like file and its length as known before transcription."""

    clip: Clip
    data: bytes
    file_name: str
    seconds: int  # the longest of the declared length, the size's and the header's
    header_told: bool  # the file's own header gave its length


@dataclass(slots=True, frozen=True)
class Heard:
    text: str  # "" when no words were heard
    seconds: int  # what was counted and costed


def size_seconds(kind: SpeechKind, size: int) -> int:
    """The fewest seconds `size` bytes of `kind` hold (at its highest plausible rate)."""
    return -(-size // MAX_BYTES_PER_SECOND[kind])


def header_seconds(data: bytes, file_name: str) -> float | None:
    """The length the file's own header gives (OGG/Opus, MP3, MP4, WAV, FLAC…), None
    when it gives none or cannot be read."""
    import mutagen  # here, not at start-up: only voice and audio need it

    buffer = io.BytesIO(data)
    buffer.name = file_name  # mutagen weighs the extension too (MP3 has no magic bytes)
    try:
        parsed = mutagen.File(buffer)
    except (mutagen.MutagenError, ValueError, struct.error, EOFError, OverflowError) as error:
        logger.info("Unreadable audio header (%s): %s", file_name, error)
        return None
    length = getattr(getattr(parsed, "info", None), "length", None)
    if not isinstance(length, int | float) or not 0 < length < math.inf:
        return None
    return float(length)


def recording(clip: Clip, data: bytes, file_name: str) -> Recording:
    """What a downloaded file says of its length (parses its header: CPU, though brief)."""
    told = header_seconds(data, file_name)
    least = max(clip.least_seconds, size_seconds(clip.kind, len(data)))
    seconds = max(least, math.ceil(told)) if told is not None else least
    return Recording(clip, data, file_name, seconds, told is not None)


def counted_seconds(heard: Recording, provider_seconds: float | None) -> int:
    """The seconds a transcription counts and costs: the longest of what the message, the
    file and the provider say; without the file's or the provider's word, an estimate
    from its size at a typical rate."""
    if provider_seconds is not None:
        return max(heard.seconds, math.ceil(provider_seconds))
    if heard.header_told:
        return heard.seconds
    typical = -(-len(heard.data) // TYPICAL_BYTES_PER_SECOND[heard.clip.kind])
    return max(heard.seconds, typical)


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

    def check(self, user_id: int, clip: Clip, model: Model) -> int:
        """Before downloading: VoiceRefusalError if this message will not be transcribed,
        judged by the longer of its declared length and what its size implies; else the
        most bytes to download (a file Telegram gave no size for stops there)."""
        allowed = self.admit(user_id, clip.least_seconds, model)
        return min(MAX_DOWNLOAD_BYTES, allowed * MAX_BYTES_PER_SECOND[clip.kind])

    def beyond_bound(self, user_id: int, clip: Clip, bound: int, model: Model) -> VoiceRefusalError:
        """The refusal for a download that went past `bound` bytes: longer than allowed."""
        try:
            self.check(user_id, Clip(clip.kind, clip.declared, bound + 1), model)
        except VoiceRefusalError as refused:
            return refused
        config = self._config
        return VoiceRefusalError("too_long", config.max_seconds if config else 0)

    def admit(self, user_id: int, seconds: int, model: Model) -> int:
        """VoiceRefusalError if `seconds` of speech will not be transcribed for this user;
        else the most seconds they may send now. A user without a plan is held to what
        their model's free length limit can take and to the free seconds of the day, so
        no transcription is paid for a request that would then be refused, or without
        bound."""
        config = self._config
        if config is None or not self.enabled:
            raise VoiceRefusalError("off")
        bounds = [(config.max_seconds, "too_long", config.max_seconds)]
        if self._held_to_free(user_id):
            input_limit = self._access.input_limit(user_id, model)
            if input_limit is not None:
                longest = input_limit // SPEECH_CHARS_PER_SECOND
                bounds.append((longest, "too_long_free", longest))
            daily = config.free_daily_seconds
            if daily is not None:
                _, used = self._stats.used_today(user_id, VOICE_KEY)
                bounds.append((daily - used, "free_day", daily))
        for allowed, reason, limit in bounds:
            if seconds > allowed:
                raise VoiceRefusalError(reason, limit)
        return min(allowed for allowed, _, _ in bounds)

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

    async def transcribe(self, user_id: int, heard: Recording) -> Heard:
        """The words in the recording and the seconds counted and costed for them (see
        `counted_seconds`); ProviderError when it failed (nothing counted)."""
        config = self._config
        if config is None:
            raise VoiceRefusalError("off")
        try:
            result = await self._llm.transcribe(
                config.provider, config.model_id, heard.data, heard.file_name
            )
        except ProviderError as error:
            logger.warning("Transcription failed for user %s: %s", user_id, error.kind)
            if error.kind in ALERTED:  # the operator must act: a key, a model id, a proxy
                text = self._llm.alert_text(config.provider, error.kind) or (
                    f"Voice transcription through {config.provider} ({config.model_id}) "
                    f"failed: {error.kind}. Check the key and [transcription] in the catalog."
                )
                await self._alerts.alert(f"transcription:{error.kind}", text)
            raise
        seconds = counted_seconds(heard, result.seconds)
        if seconds > heard.seconds:
            logger.info(
                "Voice of user %s counted as %s s (declared %s s)",
                user_id,
                seconds,
                heard.clip.declared,
            )
        self._stats.spend(user_id, VOICE_KEY, self.cost(seconds), plan=self._bill_to(user_id))
        self._stats.count_request(user_id, VOICE_KEY, seconds)  # seconds heard today
        return Heard(result.text, seconds)

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
