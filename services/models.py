"""Plain data objects shared by services and storage (no Telegram types here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["user", "assistant"]


@dataclass(slots=True)
class UserRecord:
    """A bot user and their settings."""

    id: int
    first_name: str = ""
    username: str | None = None
    language: str = "ru"
    model_key: str | None = None
    created_at: float = 0.0
    blocked: bool = False


@dataclass(slots=True, frozen=True)
class ChatTurn:
    """One message of a conversation kept as the model's memory."""

    role: Role
    content: str


@dataclass(slots=True)
class Usage:
    """Token counts reported by a provider for one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class Answer:
    """The full result of one model call."""

    text: str
    usage: Usage | None = None
    finished: bool = True
