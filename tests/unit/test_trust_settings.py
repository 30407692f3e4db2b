"""OFFER_URL, PRIVACY_URL, SBP_CONFIRM_HOURS and SUPPORT_CONTACT: checked at start-up, and
what the screens make of them."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings
from edge.views import support_url, terms_line
from texts import get_texts


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "1:abc")
    for name in ("OFFER_URL", "PRIVACY_URL", "SBP_CONFIRM_HOURS", "SUPPORT_CONTACT"):
        monkeypatch.delenv(name, raising=False)


def test_pages_are_optional_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(_env_file=None)
    assert (settings.offer_url, settings.privacy_url, settings.sbp_confirm_hours) == (
        None,
        None,
        24.0,
    )
    monkeypatch.setenv("OFFER_URL", " https://example.com/offer ")
    monkeypatch.setenv("PRIVACY_URL", "")  # empty: not set
    settings = load_settings(_env_file=None)
    assert (settings.offer_url, settings.privacy_url) == ("https://example.com/offer", None)
    monkeypatch.setenv("PRIVACY_URL", "example.com/privacy")
    with pytest.raises(ConfigError, match="PRIVACY_URL must start with http:// or https://"):
        load_settings(_env_file=None)
    monkeypatch.setenv("PRIVACY_URL", 'https://example.com/"><b>')
    with pytest.raises(ConfigError, match="PRIVACY_URL must be one URL"):
        load_settings(_env_file=None)
    monkeypatch.delenv("PRIVACY_URL")
    monkeypatch.setenv("SBP_CONFIRM_HOURS", "0")
    with pytest.raises(ConfigError, match="SBP_CONFIRM_HOURS"):
        load_settings(_env_file=None)


def test_the_terms_sentence_has_the_links_that_are_set() -> None:
    ru = get_texts("ru")
    offer, privacy = "https://e.com/o?a=1&b=2", "https://e.com/p"
    both = terms_line(ru, offer, privacy)
    assert both is not None and 'href="https://e.com/o?a=1&amp;b=2"' in both
    assert 'href="https://e.com/p"' in both and "оферты" in both
    only = terms_line(ru, None, privacy)
    assert only is not None and "оферт" not in only and "конфиденциальности" in only
    assert terms_line(ru, None, None) is None


@pytest.mark.parametrize(
    ("contact", "url"),
    [
        ("@help_desk", "https://t.me/help_desk"),
        ("https://example.com/help", "https://example.com/help"),
        ("+7 900 000-00-00", None),
        ("support@example.com", None),
    ],
)
def test_a_contact_opens_as_a_link_where_it_is_one(contact: str, url: str | None) -> None:
    assert support_url(contact) == url
