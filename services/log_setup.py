"""Logging set up once, with every configured secret masked in every record."""

from __future__ import annotations

import logging
import os

from config import PROVIDER_NAMES, Settings, database_secrets, proxy_secrets


class SecretsFilter(logging.Filter):
    """Replaces secret values in log messages and tracebacks with '***'."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if len(secret) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        masked = self._mask(message)
        exc_text = self._mask(record.exc_text) if record.exc_text else record.exc_text
        if masked != message or exc_text != record.exc_text:
            record.msg, record.args, record.exc_text = masked, None, exc_text
        return True

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def collect_secrets(settings: Settings) -> list[str]:
    secrets = [settings.bot_token.get_secret_value()]
    secrets += [key for name in PROVIDER_NAMES if (key := settings.provider_key(name))]
    secrets += [value for value in (settings.yoomoney_token, settings.notification_secret) if value]
    # Proxy URLs may hold a password: NAME_PROXY settings, and any *_PROXY in the
    # environment (catalog-only providers read theirs from there; HTTPS_PROXY...).
    proxies = [proxy for name in PROVIDER_NAMES if (proxy := settings.provider_proxy(name))]
    proxies += [value for key, value in os.environ.items() if key.upper().endswith("_PROXY")]
    for proxy in proxies:
        secrets += proxy_secrets(proxy.strip())
    if settings.database_url is not None:
        secrets += database_secrets(settings.database_url.get_secret_value())
    return secrets


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretsFilter(collect_secrets(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Library debug logs are noisy and may echo request data.
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "aiohttp.access", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
