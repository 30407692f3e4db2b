"""Voice to text: when it is refused (before paying), what it costs and whom it is billed
to; and requests too big for the model's context, refused before any call."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.catalog import Catalog, Model, Transcription
from services.chat.admission import SPEECH_CHARS_PER_SECOND, Gate, SpeechAdmission, input_budget
from services.chat.llm import LLMGateway, ProviderConfig, ProviderError, Transcript
from services.chat.refusals import ChatRefusalError, Refusal
from services.chat.voice import (
    MAX_BYTES_PER_SECOND,
    MAX_DOWNLOAD_BYTES,
    Clip,
    Recording,
    VoiceService,
    most_bytes,
    recording,
)
from services.limits.access import AccessService
from services.limits.quota import VOICE_KEY, QuotaService
from services.models import UserRecord
from services.operator.alerts import AlertService
from services.operator.stats import FREE, StatsService
from services.storage.memory import MemoryStorage
from tests.stubs.openai_server import FakeOpenAI, ogg_opus
from tests.unit.conftest import RETENTION, open_money_on
from tests.unit.test_chat import collect, make, nano_user

MSK = ZoneInfo("Europe/Moscow")
USER = 5
ADMIN = 99
MIB = 2**20


def nano_of(catalog: Catalog) -> Model:
    return catalog.models_by_key["gpt-5-nano"]


def person(user_id: int, model_key: str = "gpt-5-nano") -> UserRecord:
    return UserRecord(id=user_id, model_key=model_key)


def said(seconds: int, data: bytes = b"OggS") -> Recording:
    """A downloaded voice note declaring `seconds` (fake bytes: no header to read)."""
    return recording(Clip("voice", seconds, len(data)), data, "voice.ogg")


class HeardLLM(LLMGateway):
    """Transcribes to `heard` (the provider telling `seconds`), or fails with `fail`;
    records what was sent."""

    def __init__(self, catalog: Catalog, providers: tuple[str, ...] = ("openai",)) -> None:
        configs = {name: ProviderConfig("http://unused", "k") for name in providers}
        super().__init__(catalog, configs, 5)
        self.heard = "привет"
        self.seconds: float | None = None
        self.fail: str | None = None
        self.sent: list[tuple[str, str, int, str]] = []

    async def transcribe(
        self, provider: str, model_id: str, audio: bytes, file_name: str
    ) -> Transcript:
        self.sent.append((provider, model_id, len(audio), file_name))
        if self.fail:
            raise ProviderError(self.fail)
        return Transcript(self.heard, self.seconds)


async def voice_for(
    tmp_path: Path, catalog: Catalog, providers: tuple[str, ...] = ("openai",)
) -> tuple[VoiceService, HeardLLM, StatsService, Gate]:
    money = await open_money_on(MemoryStorage(RETENTION), catalog)  # tmp_path: no file
    stats = StatsService(money.storage, MSK)
    await stats.load()
    access = AccessService(catalog, money.subscriptions)
    llm = HeardLLM(catalog, providers)
    quota = QuotaService(catalog, access, stats, MSK, exempt=frozenset({ADMIN}))
    gate = Gate(catalog, llm, access, quota, stats)
    voice = VoiceService(catalog, llm, gate, stats, AlertService(), usd_rub=100.0)
    await money.subscriptions.grant(USER + 1, "ai_group", 30, source="test")
    return voice, llm, stats, gate


def admitted(gate: Gate, user_id: int, seconds: int = 1) -> SpeechAdmission:
    return gate.admit_speech(person(user_id), seconds)


async def test_the_shipped_catalog_transcribes_through_openai(
    tmp_path: Path, catalog: Catalog
) -> None:
    config = catalog.transcription
    assert config is not None and config.provider == "openai"
    price = config.price_per_minute
    assert price is not None
    voice, llm, stats, gate = await voice_for(tmp_path, catalog)
    assert voice.enabled
    admitted(gate, USER + 1, config.max_seconds)  # a subscriber, at the limit
    heard = await voice.transcribe(admitted(gate, USER), said(60, b"OggS..."))
    assert (heard.text, heard.seconds) == ("привет", 60)
    assert llm.sent == [("openai", config.model_id, 7, "voice.ogg")]
    # A minute at price_per_minute USD, at 100 RUB/USD, billed to the free tier.
    day = stats._day()
    assert day.costs == {f"{USER}:{VOICE_KEY}": pytest.approx(price * 100)}
    assert day.plan_costs == {FREE: pytest.approx(price * 100)}

    await voice.transcribe(admitted(gate, USER + 1), said(30))  # a subscriber: their plan
    assert day.plan_costs["ai_group"] == pytest.approx(price * 50)


async def test_refused_before_anything_is_paid(tmp_path: Path, catalog: Catalog) -> None:
    voice, llm, _, _ = await voice_for(tmp_path, catalog)
    assert catalog.transcription is not None
    limit = catalog.transcription.max_seconds
    with pytest.raises(ChatRefusalError) as refused:
        voice.admit(person(USER), Clip("voice", limit + 1))
    assert (refused.value.reason, refused.value.limit) == (Refusal.VOICE_TOO_LONG, limit)

    off, _, _, _ = await voice_for(tmp_path / "nokey", catalog, providers=("openrouter",))
    open_model = person(USER, "gpt-4.1-nano")  # served through openrouter, which has a key
    with pytest.raises(ChatRefusalError) as refused:  # the provider has no key here
        off.admit(open_model, Clip("voice", 5))
    assert refused.value.reason == Refusal.VOICE_OFF
    with pytest.raises(ChatRefusalError) as refused:  # the user's model first, as for text
        off.admit(person(USER), Clip("voice", 5))
    assert refused.value.reason == Refusal.UNAVAILABLE
    plain = catalog.model_copy(update={"transcription": None})
    none, _, _, _ = await voice_for(tmp_path / "none", plain)
    assert not none.enabled
    with pytest.raises(ChatRefusalError) as refused:
        none.admit(person(USER), Clip("voice", 5))
    assert refused.value.reason == Refusal.VOICE_OFF
    assert llm.sent == []


async def test_a_free_user_is_held_to_what_a_free_request_and_day_allow(
    tmp_path: Path, catalog: Catalog
) -> None:
    voice, llm, _, gate = await voice_for(tmp_path, catalog)
    nano = nano_of(catalog)
    assert nano.free_input_limit == 1000 and catalog.transcription is not None
    longest = nano.free_input_limit // SPEECH_CHARS_PER_SECOND  # 66 s of speech
    assert voice.admit(person(USER), Clip("voice", longest)).seconds == longest
    assert voice.free_seconds_left(USER) == (600, 600)
    with pytest.raises(ChatRefusalError) as refused:  # its transcript would be refused: not paid
        voice.admit(person(USER), Clip("voice", longest + 1))
    assert (refused.value.reason, refused.value.limit) == (Refusal.VOICE_TOO_LONG_FREE, longest)
    assert refused.value.plan_lifts
    voice.admit(person(USER + 1), Clip("voice", longest + 1))  # a subscriber
    voice.admit(person(ADMIN), Clip("voice", longest + 1))  # an admin

    daily = catalog.transcription.free_daily_seconds
    assert daily == 600
    for _ in range(10):  # 10 minutes of speech today
        await voice.transcribe(voice.admit(person(USER), Clip("voice", 60)), said(60))
    with pytest.raises(ChatRefusalError) as refused:
        voice.admit(person(USER), Clip("voice", 1))
    assert (refused.value.reason, refused.value.limit) == (Refusal.VOICE_FREE_DAY, daily)
    assert len(llm.sent) == 10
    assert voice.free_seconds_left(USER) == (0, daily)
    assert voice.free_seconds_left(USER + 1) is None and voice.free_seconds_left(ADMIN) is None
    subscriber = admitted(gate, USER + 1)
    for _ in range(12):  # a subscriber's voice has no daily bound
        await voice.transcribe(subscriber, said(60))
    voice.admit(person(USER + 1), Clip("voice", 60))


async def test_a_failed_transcription_costs_nothing(tmp_path: Path, catalog: Catalog) -> None:
    voice, llm, stats, gate = await voice_for(tmp_path, catalog)
    llm.fail = "region_blocked"
    with pytest.raises(ProviderError):
        await voice.transcribe(admitted(gate, USER), said(10))
    assert stats._day().costs == {}
    assert stats.used_today(USER, VOICE_KEY) == (0, 0)  # nothing counted either


async def test_without_a_price_the_cost_is_unknown_not_zero(
    tmp_path: Path, catalog: Catalog
) -> None:
    free = Transcription(provider="openai", model_id="whisper-1")
    voice, _, stats, gate = await voice_for(
        tmp_path, catalog.model_copy(update={"transcription": free})
    )
    await voice.transcribe(admitted(gate, USER), said(10))
    assert voice.cost(10) is None
    assert stats._day().unpriced == 1 and stats._day().costs == {}


# Lengths a voice message does not declare truly ---------------------------------------
async def test_the_size_bounds_the_length_before_download(tmp_path: Path, catalog: Catalog) -> None:
    """The audit's voice note: 8 MiB declaring 0 s holds at least 525 s of OGG/Opus at
    128 kbit/s (Telegram's own take 2-4 kB a second): refused, for a subscriber too."""
    voice, llm, _, _ = await voice_for(tmp_path, catalog)
    nano = nano_of(catalog)
    lie = Clip("voice", 0, 8 * MIB)
    assert lie.least_seconds == 525
    for user in (USER, USER + 1):
        with pytest.raises(ChatRefusalError) as refused:
            voice.admit(person(user), lie)
        assert (refused.value.reason, refused.value.limit) == (Refusal.VOICE_TOO_LONG, 300)
    # Each kind at its own highest rate: audio may be CD-quality WAV, round videos video.
    assert Clip("audio", 0, 8 * MIB).least_seconds == 42
    assert Clip("video_note", 0, 8 * MIB).least_seconds == 9
    assert Clip("voice", 0, 0).least_seconds == 1  # no voice message counts for nothing
    honest = Clip("voice", 60, 60 * 4_000)  # a minute at Telegram's 32 kbit/s
    assert honest.least_seconds == 60
    # What to download at most, for a file Telegram gives no size for: what the longest
    # allowed voice note takes at the kind's highest rate.
    assert nano.free_input_limit is not None
    longest_free = nano.free_input_limit // SPEECH_CHARS_PER_SECOND
    free = voice.admit(person(USER), honest)
    assert most_bytes(free, "voice") == longest_free * MAX_BYTES_PER_SECOND["voice"]
    paid = voice.admit(person(USER + 1), honest)
    assert most_bytes(paid, "voice") == 300 * MAX_BYTES_PER_SECOND["voice"]
    assert most_bytes(voice.admit(person(USER + 1), Clip("audio", 60)), "audio") == (
        MAX_DOWNLOAD_BYTES
    )
    unsized = voice.admit(person(USER), Clip("voice", 0))
    bound = most_bytes(unsized, "voice")
    refused_value = voice.beyond_bound(unsized, Clip("voice", 0), bound)
    assert (refused_value.reason, refused_value.limit) == (
        Refusal.VOICE_TOO_LONG_FREE,
        longest_free,
    )
    assert llm.sent == []


async def test_the_files_header_and_the_provider_count_when_they_say_more(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Counted and costed: the longest of the declared length, the file's header, the
    provider's report; an estimate from the size when neither file nor provider tells."""
    voice, llm, stats, _ = await voice_for(tmp_path, catalog)
    assert catalog.transcription is not None and catalog.transcription.price_per_minute
    price = catalog.transcription.price_per_minute
    data = ogg_opus("вопрос", 40)  # 80 kB: 5 s at the highest rate, 40 s by its header
    heard = recording(Clip("voice", 2, len(data)), data, "voice.ogg")
    assert (heard.seconds, heard.header_told) == (40, True)
    admission = voice.admit(person(USER), heard.clip)  # 2 s declared, 5 s by its size
    assert voice.readmit(admission, heard).seconds == 66  # 40 s by its header: still fits
    long = recording(Clip("voice", 2), ogg_opus("x", 80), "v.ogg")
    with pytest.raises(ChatRefusalError):  # over a free request before it is paid
        voice.readmit(voice.admit(person(USER), long.clip), long)
    assert (await voice.transcribe(admission, heard)).seconds == 40
    assert stats.used_today(USER, VOICE_KEY) == (1, 40)
    llm.seconds = 95.2  # the provider heard more than the header said
    assert (await voice.transcribe(admission, heard)).seconds == 96
    llm.seconds = None
    headless = recording(Clip("voice", 0), b"\xff" * 40_000, "v.ogg")  # 10 s at 32 kbit/s
    assert not headless.header_told
    assert (await voice.transcribe(admission, headless)).seconds == 10
    assert stats.used_today(USER, VOICE_KEY) == (3, 40 + 96 + 10)
    assert stats._day().costs[f"{USER}:{VOICE_KEY}"] == pytest.approx(price * 146 / 60 * 100)


async def test_the_gateway_reads_the_length_the_provider_reports(catalog: Catalog) -> None:
    """Through the real SDK against the stand-in, which answers as the real API: whisper-1
    reports seconds, the gpt-4o transcribe models tokens (so no length); undecodable
    audio is a 400, as is audio over 1500 s for the gpt-4o models."""
    server = FakeOpenAI()
    await server.start()
    gateway = LLMGateway(catalog, {"openai": ProviderConfig(server.base_url, "sk-test")}, 5)
    try:
        audio = ogg_opus("привет", 40)
        whisper = await gateway.transcribe("openai", "whisper-1", audio, "voice.ogg")
        assert (whisper.text, whisper.seconds) == ("привет", 40.0)
        tokens = await gateway.transcribe("openai", "gpt-4o-mini-transcribe", audio, "voice.ogg")
        assert (tokens.text, tokens.seconds) == ("привет", None)
        with pytest.raises(ProviderError) as failed:
            await gateway.transcribe("openai", "gpt-4o-mini-transcribe", b"OggS junk", "v.ogg")
        assert failed.value.kind == "bad_request"
        long = ogg_opus("долго", 1600, size=50_000)
        with pytest.raises(ProviderError):
            await gateway.transcribe("openai", "gpt-4o-mini-transcribe", long, "voice.ogg")
        assert (await gateway.transcribe("openai", "whisper-1", long, "v.ogg")).seconds == 1600
    finally:
        await gateway.close()
        await server.stop()


async def test_the_catalog_checks_the_transcription_provider(catalog: Catalog) -> None:
    data = catalog.model_dump()
    data["transcription"] = {"provider": "nobody", "model_id": "whisper-1"}
    with pytest.raises(ValueError, match="transcription: unknown provider 'nobody'"):
        Catalog.model_validate(data)


# Requests the model cannot take -------------------------------------------------------
async def test_a_request_beyond_the_models_context_is_refused_without_a_call(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, subs, _ = await make(tmp_path, catalog)
    user = nano_user()
    model = chat.current_model(user)
    await subs.grant(user.id, "gpt_pro", 30, source="test")  # no free length limit
    budget = input_budget(model)
    with pytest.raises(ChatRefusalError) as refusal:
        await collect(chat, user, "я" * (budget + 1))
    assert (refusal.value.reason, refusal.value.limit) == ("too_long_for_model", budget)
    assert llm.prompts == []
    assert await collect(chat, user, "я" * 10) == "re: " + "я" * 10


async def test_check_ready_refuses_when_no_request_is_left_and_counts_nothing(
    tmp_path: Path, catalog: Catalog
) -> None:
    chat, llm, _, _ = await make(tmp_path, catalog)
    user = nano_user()
    model = chat.current_model(user)
    assert model.free_daily_requests is not None
    for _ in range(model.free_daily_requests - 1):
        chat.gate.check_ready(user)  # counts nothing
        await collect(chat, user, "q")
    chat.gate.check_ready(user)
    chat.gate.check_ready(user)  # still the last one: checking twice took nothing
    await collect(chat, user, "last")
    with pytest.raises(ChatRefusalError) as refusal:
        chat.gate.check_ready(user)
    assert refusal.value.reason == "quota_free_requests"
    assert len(llm.prompts) == model.free_daily_requests
