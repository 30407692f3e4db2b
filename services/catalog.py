"""The product catalog (providers, models, plans) loaded from a TOML file."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,23}$"


class CatalogError(Exception):
    """The catalog file is missing or invalid; the message says where."""


class Unit(StrEnum):
    """What a provider bills by. Every cost is a count of each unit used times the
    catalog's price of that unit, so a new kind of answer adds a unit, not a code path."""

    INPUT_TOKENS = "input_tokens"  # the question with the memory sent
    OUTPUT_TOKENS = "output_tokens"  # the answer
    IMAGES = "images"  # pictures made
    AUDIO_SECONDS = "audio_seconds"  # audio heard (transcription) or made
    SPOKEN_CHARS = "spoken_chars"  # characters of text spoken aloud


# How many of each unit a catalog price is for, as providers publish their prices.
PRICED_PER: Final[Mapping[Unit, int]] = MappingProxyType(
    {
        Unit.INPUT_TOKENS: 1_000_000,
        Unit.OUTPUT_TOKENS: 1_000_000,
        Unit.IMAGES: 1,
        Unit.AUDIO_SECONDS: 60,
        Unit.SPOKEN_CHARS: 1_000_000,
    }
)


def unit_prices(prices: Mapping[Unit, float | None]) -> dict[Unit, float]:
    """The units a catalog entry gives a price for (USD per PRICED_PER of the unit)."""
    return {unit: price for unit, price in prices.items() if price is not None}


class Provider(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    base_url: str


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=40)
    provider: str
    model_id: str = Field(min_length=1)
    # What the model is good for, a few words each language (/model shows them).
    good_for: str | None = Field(default=None, max_length=80)
    good_for_en: str | None = Field(default=None, max_length=80)
    # The model that really answers where `name` is a retired one still sold (`model_id`
    # names its successor): /model says so, so nobody pays for one name and gets another.
    answered_by: str | None = Field(default=None, min_length=1, max_length=40)
    free: bool = False
    free_input_limit: int | None = Field(default=None, gt=0)
    # Free tier per day (users without a plan): requests, and input characters with the
    # conversation's memory (splitting a question does not escape it). None: unlimited.
    free_daily_requests: int | None = Field(default=None, gt=0)
    free_daily_chars: int | None = Field(default=None, gt=0)
    # The conversation memory a free request is sent with, in characters (the newest
    # turns that fit; the question itself aside): what bounds a long conversation's cost
    # on the free tier. None: the model's context, as with a plan.
    free_memory_chars: int | None = Field(default=None, gt=0)
    # What the provider charges, in USD, per unit (see Unit and PRICED_PER): per 1M tokens
    # in and out; per picture made; per minute of audio made; per 1M characters spoken.
    # A unit without a price costs nothing (the provider bills it through another: image
    # tokens are tokens); when none of the units used has one, the cost is unknown.
    price_input: float | None = Field(default=None, ge=0)
    price_output: float | None = Field(default=None, ge=0)
    price_image: float | None = Field(default=None, ge=0)
    price_audio_minute: float | None = Field(default=None, ge=0)
    price_spoken: float | None = Field(default=None, ge=0)
    context_tokens: int = Field(gt=256)
    max_output_tokens: int = Field(default=2048, gt=0)
    reasoning: bool = False
    vision: bool = False  # takes pictures (OpenAI-style image_url parts)
    temperature: float | None = Field(default=None, ge=0, le=2)

    def purpose(self, language: str) -> str | None:
        """What the model is good for, in the user's language."""
        return (self.good_for_en or self.good_for) if language == "en" else self.good_for

    @property
    def prices(self) -> Mapping[Unit, float]:
        """USD per PRICED_PER of each unit the catalog prices for this model."""
        return unit_prices(
            {
                Unit.INPUT_TOKENS: self.price_input,
                Unit.OUTPUT_TOKENS: self.price_output,
                Unit.IMAGES: self.price_image,
                Unit.AUDIO_SECONDS: self.price_audio_minute,
                Unit.SPOKEN_CHARS: self.price_spoken,
            }
        )


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=40)
    price_rub: int = Field(gt=0)
    stars: int = Field(gt=0, le=10_000)
    days: int = Field(gt=0, le=3660)
    models: tuple[str, ...] = Field(min_length=1)
    # No longer sold, but still honoured: open invoices, active subscriptions, promo codes.
    retired: bool = False
    # Fair use: requests per day per model of this plan (None: off).
    daily_requests_per_model: int | None = Field(default=None, gt=0)
    # Tokens (prompt + answer) a subscriber may use with the plan's models in a calendar
    # month (TIMEZONE); None: no allowance.
    monthly_tokens: int | None = Field(default=None, gt=0)


class Mode(BaseModel):
    """A preset assistant: a system prompt per language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=40)
    prompt: str = Field(min_length=1)
    prompt_en: str = Field(min_length=1)

    def title(self, language: str) -> str:
        return self.name_en if language == "en" else self.name

    def system_prompt(self, language: str) -> str:
        return self.prompt_en if language == "en" else self.prompt


CUSTOM_MODE = "custom"  # the user's own instruction (not a catalog key)


class ReferralBonus(BaseModel):
    """`[referral]`: what an inviter gets when a user they invited first pays: `days` of
    `plan`, or `requests` extra free requests a day (each free model) for `days` days,
    or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan: str | None = None  # a plan id, on sale
    days: int = Field(gt=0, le=366)
    requests: int = Field(default=0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _gives_something(self) -> ReferralBonus:
        if self.plan is None and not self.requests:
            raise ValueError("referral: give a plan, extra requests, or both")
        return self


class Transcription(BaseModel):
    """`[transcription]`: voice, audio and video notes become text through this provider's
    OpenAI-compatible `/audio/transcriptions`, then are asked like typed questions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    model_id: str = Field(min_length=1)
    price_per_minute: float | None = Field(default=None, ge=0)  # USD; None: cost unknown
    max_seconds: int = Field(default=300, gt=0, le=3600)
    # Users without a plan: seconds of speech a day (None: no daily bound).
    free_daily_seconds: int | None = Field(default=600, gt=0)

    @property
    def prices(self) -> Mapping[Unit, float]:
        """USD per PRICED_PER of each unit priced: the minutes of audio heard."""
        return unit_prices({Unit.AUDIO_SECONDS: self.price_per_minute})


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    providers: Mapping[str, Provider]
    models: tuple[Model, ...] = Field(min_length=1)
    plans: tuple[Plan, ...] = ()
    modes: tuple[Mode, ...] = ()
    referral: ReferralBonus | None = None  # None: invitations are counted, not rewarded
    transcription: Transcription | None = None  # None: voice messages are not understood

    @model_validator(mode="after")
    def _check_references(self) -> Catalog:
        model_keys = [model.key for model in self.models]
        _require_unique("model key", model_keys)
        _require_unique("plan id", [plan.id for plan in self.plans])
        for model in self.models:
            if model.provider not in self.providers:
                raise ValueError(f"model {model.key!r}: unknown provider {model.provider!r}")
            if (model.price_input is None) != (model.price_output is None):
                raise ValueError(f"model {model.key!r}: give both price_input and price_output")
            if model.reasoning and model.temperature is not None:
                raise ValueError(f"model {model.key!r}: reasoning models take no temperature")
        for plan in self.plans:
            for key in plan.models:
                if key not in model_keys:
                    raise ValueError(f"plan {plan.id!r}: unknown model {key!r}")
        _require_unique("mode key", [mode.key for mode in self.modes])
        if any(mode.key == CUSTOM_MODE for mode in self.modes):
            raise ValueError(f"mode key {CUSTOM_MODE!r} is reserved for the user's own instruction")
        if not any(model.free for model in self.models):
            raise ValueError("at least one model must be free (the default model)")
        voice = self.transcription
        if voice is not None and voice.provider not in self.providers:
            raise ValueError(f"transcription: unknown provider {voice.provider!r}")
        if self.referral is not None and self.referral.plan is not None:
            bonus = next((plan for plan in self.plans if plan.id == self.referral.plan), None)
            if bonus is None or bonus.retired:
                state = "unknown" if bonus is None else "retired"
                raise ValueError(f"referral: {state} plan {self.referral.plan!r}")
        return self

    @cached_property
    def models_by_key(self) -> dict[str, Model]:
        return {model.key: model for model in self.models}

    @cached_property
    def plans_by_id(self) -> dict[str, Plan]:
        return {plan.id: plan for plan in self.plans}

    @cached_property
    def modes_by_key(self) -> dict[str, Mode]:
        return {mode.key: mode for mode in self.modes}

    @cached_property
    def on_sale(self) -> tuple[Plan, ...]:
        """Plans offered to users and admins (not retired)."""
        return tuple(plan for plan in self.plans if not plan.retired)

    @property
    def default_model(self) -> Model:
        return next(model for model in self.models if model.free)

    def model(self, key: str | None) -> Model | None:
        return self.models_by_key.get(key) if key else None

    def model_names(self, plan: Plan) -> str:
        """The display names of a plan's models, comma-separated."""
        return ", ".join(self.models_by_key[key].name for key in plan.models)

    def plans_with_model(self, model_key: str) -> list[Plan]:
        """Plans that open a model, cheapest first."""
        plans = [plan for plan in self.on_sale if model_key in plan.models]
        return sorted(plans, key=lambda plan: plan.price_rub)


def check_plans_in_use(catalog: Catalog, in_use: Mapping[str, list[str]]) -> None:
    """Refuse a catalog that dropped a plan money records still name (retire it instead).

    `in_use` maps plan ids to what names them ("2 pending payments", ...).
    """
    missing = {
        plan_id: what for plan_id, what in in_use.items() if plan_id not in catalog.plans_by_id
    }
    if missing:
        plan_id, what = next(iter(sorted(missing.items())))
        raise CatalogError(
            f"Catalog error: plan {plan_id!r} was removed but {', '.join(what)} still name it; "
            f"put its [[plans]] block back with `retired = true` (it is then no longer sold)"
        )


def _require_unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def load_catalog(path: Path) -> Catalog:
    """Read and validate the catalog, raising CatalogError with a readable reason."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"Catalog error: file {path} not found") from None
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"Catalog error: {path}: {error}") from None
    try:
        return Catalog.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = _describe_location(raw, first["loc"])
        message = re.sub(r"^Value error, ", "", first["msg"])
        raise CatalogError(f"Catalog error: {path}: {where}{message}") from None


def _describe_location(raw: dict[str, object], loc: tuple[int | str, ...]) -> str:
    """Turn ('models', 3, 'key') into 'models[3] (GPT-4o Mini).key: '."""
    if not loc:
        return ""
    parts: list[str] = []
    node: object = raw
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and "name" in node:
                parts[-1] += f" ({node['name']})"
        else:
            parts.append(item)
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) + ": "
