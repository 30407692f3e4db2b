"""Settings: every value comes from the environment or an optional `.env` file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The providers whose NAME_API_KEY / NAME_BASE_URL / NAME_PROXY settings the bot understands.
PROVIDER_NAMES = ("openai", "openrouter", "deepseek", "gemini", "xai", "perplexity", "qwen")
# What a NAME_PROXY URL may start with: an HTTP(S) proxy, or SOCKS (aiohttp-socks).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4")

# BOT_TOKEN in .env.example: refused, so a copied example never reaches Telegram.
EXAMPLE_TOKEN = "123456789:replace-me"
# A token from @BotFather: the bot's numeric id, ':', then 35 of [A-Za-z0-9_-].
TOKEN_KEY_LENGTH = 35
_TOKEN_ID = re.compile(r"[0-9]{1,20}")
_TOKEN_KEY_CHAR = re.compile(r"[A-Za-z0-9_-]")
# Telegram's rule for setWebhook's secret_token (checked here, before Telegram does).
WEBHOOK_SECRET_MAX = 256
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]+")
WEBHOOK_SECRET_RULE = (
    "must be 1-256 of A-Z, a-z, 0-9, '_' and '-' (Telegram's rule); make one with: "
    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)
# Paths the web server serves already (GET /health, POST /yoomoney/notify).
WEB_PATHS = ("/health", "/yoomoney/notify")
DEFAULT_TELEGRAM_API = "https://api.telegram.org"
WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports api.telegram.org posts to
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")
REDIS_SCHEMES = ("redis", "rediss", "unix")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


class Settings(BaseSettings):
    """All runtime settings. Secrets are `SecretStr`, so they never print."""

    # An empty value (`DAILY_COST_ALERT_RUB=` in .env.example) means "not set": the default.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    bot_token: SecretStr
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    telegram_api_url: str = DEFAULT_TELEGRAM_API
    data_dir: Path = Path("data")
    # Seconds a new process waits for another that still holds DATA_DIR (0: refuse at once).
    data_lock_wait: float = Field(default=0.0, ge=0)
    catalog_path: Path = Path(__file__).parent / "catalog.toml"
    log_level: str = "INFO"
    timezone: str = "Europe/Moscow"

    # Chat behaviour.
    stream_edit_interval: float = Field(default=1.0, gt=0)
    request_timeout: float = Field(default=120.0, gt=0)
    shutdown_grace: float = Field(default=8.0, ge=0)
    history_max_messages: int = Field(default=40, ge=2)
    max_conversations: int = Field(default=100, ge=2)  # per user or group; the oldest go
    reminder_interval: float = Field(default=300.0, gt=0)
    broadcast_rate: float = Field(default=25.0, gt=0)

    # Payments.
    ymoney_token: SecretStr | None = None
    ymoney_wallet: str | None = None
    ymoney_api_url: str = "https://yoomoney.ru"
    ymoney_accepted_shortfall: float = Field(default=3.5, ge=0, lt=100)
    ymoney_notification_secret: SecretStr | None = None
    # Roubles per US dollar, to turn providers' prices (catalog, USD) into costs.
    usd_rub_rate: float = Field(default=95.0, gt=0)
    # Roubles the operator gets per Telegram Star (after Telegram's share): Stars revenue
    # in the margins.
    star_rub_rate: float = Field(default=1.2, ge=0)
    # Admins are told when the day's provider cost passes this many RUB (empty: never).
    daily_cost_alert_rub: float | None = Field(default=None, gt=0)
    money_watch_interval: float = Field(default=900.0, gt=0)
    payment_check_interval: float = Field(default=60.0, gt=0)
    # Seconds between reads of Telegram's Stars ledger (getStarTransactions), which credit
    # Stars payments whose credit could not be written; also at start-up. 0: never.
    stars_ledger_interval: float = Field(default=600.0, ge=0)
    payment_ttl_hours: float = Field(default=24.0, gt=0)
    late_payment_days: float = Field(default=7.0, ge=0)
    sbp_details: str | None = None
    # Hours a manager usually takes to confirm an SBP payment (said in the invoice).
    sbp_confirm_hours: float = Field(default=24.0, gt=0, le=720)
    support_contact: str = ""
    # The public offer and the privacy policy, linked on the payment method screen.
    offer_url: str | None = None
    privacy_url: str | None = None

    # The web server: GET /health always, YooMoney notifications when their secret is set.
    # NOTIFICATION_HOST / NOTIFICATION_PORT are the older names, still read. Port 0: off.
    web_host: str = Field(
        default="0.0.0.0", validation_alias=AliasChoices("web_host", "notification_host")
    )
    web_port: int = Field(
        default=8080, ge=0, lt=65536, validation_alias=AliasChoices("web_port", "notification_port")
    )
    # /health answers 503 when no getUpdates call has succeeded for this many seconds
    # (more than the 10 s long poll), or at once while polling fails.
    health_max_poll_age: float = Field(default=60.0, gt=10)
    # Webhook mode (not set: long polling): the full public URL Telegram posts updates to;
    # its path is served on WEB_PORT (a reverse proxy in front takes Telegram's HTTPS).
    webhook_url: str | None = None
    # Required with WEBHOOK_URL: Telegram sends it with every update (1-256 of A-Z, a-z,
    # 0-9, _ and -); a request without it is refused (401).
    webhook_secret: SecretStr | None = None
    # At most this many requests Telegram sends at once (1-100; not set: Telegram's 40).
    webhook_max_connections: int | None = Field(default=None, ge=1, le=100)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openrouter_api_key: SecretStr | None = None
    openrouter_base_url: str | None = None
    deepseek_api_key: SecretStr | None = None
    deepseek_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    xai_api_key: SecretStr | None = None
    xai_base_url: str | None = None
    perplexity_api_key: SecretStr | None = None
    perplexity_base_url: str | None = None
    qwen_api_key: SecretStr | None = None
    qwen_base_url: str | None = None
    # A provider's requests through a proxy (the others and Telegram stay direct): for
    # providers that refuse this server's country. SecretStr: the URL may hold a password.
    openai_proxy: SecretStr | None = None
    openrouter_proxy: SecretStr | None = None
    deepseek_proxy: SecretStr | None = None
    gemini_proxy: SecretStr | None = None
    xai_proxy: SecretStr | None = None
    perplexity_proxy: SecretStr | None = None
    qwen_proxy: SecretStr | None = None
    # Seconds between checks of each provider's model list (GET /models); 0: never.
    model_check_interval: float = Field(default=86400.0, ge=0)

    # Users, conversations, money, statistics and broadcasts in PostgreSQL instead of
    # DATA_DIR's JSON files (postgresql://user:password@host:5432/database). SecretStr: it
    # holds a password; logs name only the host and the database.
    database_url: SecretStr | None = None

    # State shared between bot processes (FSM states, the answer queue, Stop, flood
    # control, throttles, quota counters) in Redis; not set: in this process's memory.
    # SecretStr: the URL may hold a password.
    redis_url: SecretStr | None = None
    # The start of every key the bot writes in Redis (one Redis may serve several bots).
    redis_prefix: str = "aibot"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(part) for part in parts if part)
            except ValueError:
                raise ValueError("must be comma-separated Telegram user ids") from None
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        problem = token_problem(token)
        if problem:
            raise ValueError(problem)
        return SecretStr(token)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("telegram_api_url", "ymoney_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("offer_url", "privacy_url")
    @classmethod
    def _check_page_url(cls, value: str | None) -> str | None:
        url = (value or "").strip()
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. https://example.com/offer")
        if any(char.isspace() or char in "\"'<>" for char in url):
            raise ValueError("must be one URL, without spaces, quotes or angle brackets")
        return url

    @field_validator(*(f"{name}_proxy" for name in PROVIDER_NAMES))
    @classmethod
    def _check_proxy(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value().strip() if value else ""
        if not url:
            return None
        problem = proxy_problem(url)
        if problem:
            raise ValueError(problem)
        return SecretStr(url)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value().strip() if value else ""
        if not url:
            return None
        problem = redis_url_problem(url)
        if problem:
            raise ValueError(problem)
        return SecretStr(url)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value().strip() if value else ""
        if not url:
            return None
        problem = database_url_problem(url)
        if problem:
            raise ValueError(problem)
        return SecretStr(url)

    @field_validator("redis_prefix")
    @classmethod
    def _check_redis_prefix(cls, value: str) -> str:
        if not _REDIS_PREFIX.fullmatch(value):
            raise ValueError("must be 1-64 of letters, digits, '_', '-' and '.'")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        url = (value or "").strip()
        if not url:
            return None
        problem = webhook_url_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        secret = value.get_secret_value().strip() if value else ""
        if not secret:
            return None
        if len(secret) > WEBHOOK_SECRET_MAX or not _WEBHOOK_SECRET.fullmatch(secret):
            raise ValueError(WEBHOOK_SECRET_RULE)
        return SecretStr(secret)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Europe/Moscow") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def bot_id(self) -> int:
        """The bot's Telegram id: the token's part before ':' (not a secret)."""
        return int(self.bot_token.get_secret_value().partition(":")[0])

    @property
    def yoomoney_token(self) -> str | None:
        token = self.ymoney_token.get_secret_value().strip() if self.ymoney_token else ""
        return token if token and self.ymoney_wallet else None

    @property
    def notification_secret(self) -> str | None:
        secret = self.ymoney_notification_secret
        return secret.get_secret_value() if secret and secret.get_secret_value() else None

    def provider_key(self, provider: str) -> str | None:
        """The API key for a provider, or None when it is not configured."""
        secret: SecretStr | None = getattr(self, f"{provider}_api_key", None)
        value = secret.get_secret_value().strip() if secret else ""
        return value or None

    def provider_base_url(self, provider: str) -> str | None:
        """The operator's base URL override for a provider, if any."""
        value: str | None = getattr(self, f"{provider}_base_url", None)
        return value or None

    def provider_proxy(self, provider: str) -> str | None:
        """The proxy URL a provider's requests go through, or None (direct)."""
        secret: SecretStr | None = getattr(self, f"{provider}_proxy", None)
        return secret.get_secret_value() if secret else None


# Settings read under an older name too (validation_alias); errors name both.
_OLDER_NAMES = {"WEB_HOST": "NOTIFICATION_HOST", "WEB_PORT": "NOTIFICATION_PORT"}


def proxy_problem(url: str) -> str | None:
    """Why `url` cannot be a proxy URL (never quoting it: it may hold a password), or None."""
    example = "e.g. socks5://user:password@host:1080 or http://host:3128"
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in PROXY_SCHEMES:
        return f"must start with {', '.join(s + '://' for s in PROXY_SCHEMES)}; {example}"
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError:
        return f"has a malformed host or port; {example}"
    if not parsed.hostname or port is None:
        return f"needs a host and a port; {example}"
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        return f"must be only scheme, optional user:password@, host and port; {example}"
    if any(char.isspace() for char in rest):
        return "contains a space or line break"
    return None


def proxy_secrets(url: str) -> list[str]:
    """The parts of a proxy URL that must never be logged: the URL, its user:password and
    its password (as written and decoded)."""
    secrets = [url]
    try:
        parsed = urlsplit(url)
    except ValueError:
        return secrets
    userinfo = parsed.netloc.rpartition("@")[0]
    if userinfo:
        secrets.append(userinfo)
        password = userinfo.partition(":")[2]
        secrets += [password, unquote(password)]
    return [secret for secret in dict.fromkeys(secrets) if secret]


def database_url_problem(url: str) -> str | None:
    """Why `url` cannot be a PostgreSQL URL (never quoting it), or None."""
    example = "e.g. postgresql://bot:password@host:5432/bot"
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in ("postgresql", "postgres"):
        return f"must start with postgresql://; {example}"
    if any(char.isspace() for char in url):
        return "contains a space or line break"
    try:
        urlsplit(url).port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return f"has a malformed host or port; {example}"
    return None


def database_secrets(url: str) -> list[str]:
    """What of a database URL must never be logged: the URL and its password."""
    return proxy_secrets(url)


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook URL, or None (the rules that need other settings are in
    `webhook_problem`)."""
    example = "e.g. https://bot.example.com/telegram/webhook"
    if any(char.isspace() for char in url):
        return "contains a space or line break"
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return f"has a malformed host or port; {example}"
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        return f"must be a full https:// URL; {example}"
    if parsed.fragment:
        return f"must not have a #fragment; {example}"
    if (parsed.path or "/") in WEB_PATHS:
        return f"must not end in {parsed.path} (the web server serves it already); {example}"
    return None


def webhook_problem(settings: Settings) -> str | None:
    """What is wrong with the webhook settings taken together, or None."""
    url = settings.webhook_url
    if url is None:
        return None
    if settings.webhook_secret is None:
        return (
            "Configuration error: WEBHOOK_SECRET is required with WEBHOOK_URL; it "
            f"{WEBHOOK_SECRET_RULE}"
        )
    if settings.web_port == 0:
        return (
            "Configuration error: WEBHOOK_URL needs the web server, but WEB_PORT is 0; set "
            "WEB_PORT to the port the reverse proxy forwards Telegram's requests to"
        )
    parsed = urlsplit(url)
    if settings.telegram_api_url != DEFAULT_TELEGRAM_API:
        return None  # a Bot API server of your own (--local) may post to http and any port
    if parsed.scheme != "https":
        return (
            "Configuration error: WEBHOOK_URL must start with https:// (Telegram posts only "
            "to HTTPS; a reverse proxy in front of WEB_PORT takes it)"
        )
    if (parsed.port or 443) not in WEBHOOK_PORTS:
        return (
            f"Configuration error: WEBHOOK_URL's port must be 443, 80, 88 or 8443 (Telegram "
            f"posts to no other); the reverse proxy forwards it to WEB_PORT ({settings.web_port})"
        )
    return None


def redis_url_problem(url: str) -> str | None:
    """Why `url` cannot be a Redis URL (never quoting it: it may hold a password), or None."""
    example = "e.g. redis://:password@host:6379/0 (rediss:// with TLS)"
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in REDIS_SCHEMES:
        return f"must start with redis://, rediss:// or unix://; {example}"
    if any(char.isspace() for char in url):
        return "contains a space or line break"
    if scheme.lower() == "unix":
        return None
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return f"has a malformed host or port; {example}"
    if not parsed.hostname:
        return f"needs a host; {example}"
    database = parsed.path.strip("/")
    if database and not database.isdigit():
        return f"may end only with a database number; {example}"
    return None


def token_problem(token: str) -> str | None:
    """Why `token` cannot be a token from @BotFather (never quoting it), or None."""
    fix = "put the token from @BotFather (123456789:AAH...)"
    if not token:
        return f"is empty; {fix}"
    if token == EXAMPLE_TOKEN or "replace-me" in token:
        return f"is still the example value; {fix}"
    if token[0] in "\"'" or token[-1] in "\"'":
        return "is in quotes; remove them"
    if any(char.isspace() for char in token):
        return "contains a space or line break; copy the token from @BotFather again"
    if token.lower().startswith("bot"):
        return "starts with 'bot'; leave that out (it belongs to the API URL, not the token)"
    bot_id, colon, key = token.partition(":")
    if not colon:
        return f"has no ':'; {fix}"
    if not _TOKEN_ID.fullmatch(bot_id):
        return f"must start with the bot's numeric id before ':'; {fix}"
    if not key:
        return f"misses the part after ':'; {fix}"
    wrong = next((char for char in key if not _TOKEN_KEY_CHAR.fullmatch(char)), None)
    if wrong is not None:
        return (
            f"contains {wrong!r}, which a token never has (only letters, digits, '_' and '-' "
            "after ':'); copy the token from @BotFather again"
        )
    return None


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation failure into one clear line."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        if name in _OLDER_NAMES:
            name = f"{name} (or {_OLDER_NAMES[name]})"
        reason = "is required" if first["type"] == "missing" else first["msg"]
        if name == "BOT_TOKEN" and first["type"] == "missing":  # absent, or empty in .env
            reason = "is not set; put the token from @BotFather (123456789:AAH...)"
        reason = reason.removeprefix("Value error, ")
        raise ConfigError(f"Configuration error: {name} {reason}") from None
    problem = webhook_problem(settings)
    if problem:
        raise ConfigError(problem)
    return settings
