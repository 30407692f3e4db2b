"""Voice, audio and round video messages to text, through the catalog's `[transcription]`
provider; the text is then asked like a typed question. Speech is admitted by the same
gate as typed text (services.chat.admission: the user's model, today's quota, the free
tier's bounds) before anything is downloaded or paid for. Each transcription is costed
in audio seconds at the catalog's price per minute and billed to the plan its
admission names (or the free tier).

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

from services.catalog import Catalog, Transcription, Unit
from services.chat.admission import Gate, SpeechAdmission
from services.chat.costs import cost_rub
from services.chat.llm import CONFIG_FAILURES, LLMGateway, ProviderError
from services.chat.refusals import ChatRefusalError, Refusal
from services.limits.quota import VOICE_KEY
from services.models import UserRecord
from services.operator.alerts import AlertService
from services.operator.stats import StatsService

logger = logging.getLogger(__name__)

# Failures the operator must fix; a 400 here is one odd audio file, not a setting.
ALERTED = CONFIG_FAILURES - {"bad_request"}

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


def most_bytes(admission: SpeechAdmission, kind: SpeechKind) -> int:
    """The most bytes to download for admitted speech: what its longest allowed length
    takes at its kind's highest rate (a file Telegram gave no size for stops there)."""
    return min(MAX_DOWNLOAD_BYTES, admission.seconds * MAX_BYTES_PER_SECOND[kind])


class VoiceService:
    def __init__(
        self,
        catalog: Catalog,
        llm: LLMGateway,
        gate: Gate,
        stats: StatsService,
        alerts: AlertService,
        *,
        usd_rub: float,
    ) -> None:
        self._alerts = alerts
        self._config: Transcription | None = catalog.transcription
        self._llm = llm
        self._gate = gate
        self._stats = stats
        self._usd_rub = usd_rub

    @property
    def enabled(self) -> bool:
        return self._gate.speech_enabled

    def admit(self, user: UserRecord, clip: Clip) -> SpeechAdmission:
        """Before downloading: ChatRefusalError if this message will not be transcribed,
        judged by the longer of its declared length and what its size implies."""
        return self._gate.admit_speech(user, clip.least_seconds)

    def readmit(self, admission: SpeechAdmission, heard: Recording) -> SpeechAdmission:
        """After downloading, before paying: the bounds again for what the file says."""
        return self._gate.readmit_speech(admission.user, admission.model, heard.seconds)

    def beyond_bound(self, admission: SpeechAdmission, clip: Clip, bound: int) -> ChatRefusalError:
        """The refusal for a download that went past `bound` bytes: longer than allowed."""
        longer = Clip(clip.kind, clip.declared, bound + 1)
        try:
            self._gate.readmit_speech(admission.user, admission.model, longer.least_seconds)
        except ChatRefusalError as refused:
            return refused
        config = self._config
        limit = config.max_seconds if config else 0
        return ChatRefusalError(Refusal.VOICE_TOO_LONG, admission.model, limit=limit)

    def free_seconds_left(self, user_id: int) -> tuple[int, int] | None:
        """(seconds of speech left today, the day's free seconds) for a user without a
        plan; None when voice has no daily bound for them."""
        if not self.enabled:
            return None
        return self._gate.quota.speech_left_today(user_id)

    async def transcribe(self, admission: SpeechAdmission, heard: Recording) -> Heard:
        """The words in the recording and the seconds counted and costed for them (see
        `counted_seconds`); ProviderError when it failed (nothing counted)."""
        config = self._config
        if config is None:
            raise ChatRefusalError(Refusal.VOICE_OFF, admission.model)
        user_id = admission.user.id
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
        self._stats.spend(user_id, VOICE_KEY, self.cost(seconds), plan=admission.bill_to)
        await self._gate.quota.count_speech(user_id, seconds)  # seconds heard today
        return Heard(result.text, seconds)

    def cost(self, seconds: int) -> float | None:
        """RUB for `seconds` of speech; None when the catalog gives no price."""
        config = self._config
        if config is None:
            return None
        return cost_rub(config.prices, {Unit.AUDIO_SECONDS: seconds}, self._usd_rub)
