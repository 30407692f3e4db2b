"""Links that open the private chat with the bot at a screen (`t.me/<bot>?start=<screen>`):
what a group gets for /plans, /profile and the plan buttons, which are personal."""

from __future__ import annotations

from typing import Final

PLANS: Final = "plans"
PROFILE: Final = "profile"
SCREENS: Final = frozenset({PLANS, PROFILE})  # /start payloads that open a screen


def private_link(username: str | None, screen: str) -> str | None:
    """The link, or None for a bot without a username (then none can be made)."""
    return f"https://t.me/{username}?start={screen}" if username else None
