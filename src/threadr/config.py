"""Settings: a pure function of an environment mapping, validated all at once at start-up."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")

ENVIRONMENTS = ("development", "production")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_SECRETS = frozenset({"redis_url", "openai_api_key", "api_keys"})


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service; documented one by one in docs/configuration.md."""

    environment: str = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    debug: bool = False
    access_log: bool = True
    # Redis (None → in-memory stores)
    redis_url: str | None = None
    redis_ssl_ca_certs: str | None = None
    redis_tls_insecure: bool = False
    redis_max_connections: int = 64
    redis_timeout_seconds: float = 2.0
    # OpenAI (None → offline writer)
    openai_api_key: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None
    openai_timeout_seconds: float = 30.0
    # Cache
    cache_ttl_hours: float = 24.0
    cache_memory_entries: int = 2048
    # Input limits
    max_content_length: int = 10_000
    max_body_bytes: int = 65_536
    max_thread_tweets: int = 25
    # Fetching articles
    fetch_timeout_seconds: float = 10.0
    fetch_max_bytes: int = 5 * 1024 * 1024
    fetch_allowed_ports: tuple[int, ...] = (80, 443)
    fetch_allow_private_networks: bool = False
    allowed_domains: tuple[str, ...] = ()
    # Rate limits (ratelimit.LimitSettings reads the rate_limit_* fields)
    rate_limit_enabled: bool = True
    rate_limit_burst: int = 10
    rate_limit_burst_seconds: int = 60
    rate_limit_requests: int = 50
    rate_limit_window_hours: float = 1.0
    rate_limit_premium_requests: int = 200
    rate_limit_client_clock: bool = False
    # Free tier (quota.QuotaSettings reads the free_tier_* fields)
    free_tier_enabled: bool = True
    free_tier_daily_limit: int = 5
    free_tier_monthly_limit: int = 20
    # Edges
    cors_origins: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = field(default=())
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def cache_ttl_seconds(self) -> int:
        return max(1, round(self.cache_ttl_hours * 3600))

    def __repr__(self) -> str:
        # Secrets never reach a log line or a traceback through repr().
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRETS and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: os.environ); ConfigError names every problem at once."""
        env = os.environ if env is None else env
        p = _Parser(env)
        redis_url = p.text("REDIS_URL") or p.text("REDIS_PRIVATE_URL")
        values: dict[str, Any] = dict(
            environment=p.choice("ENVIRONMENT", ENVIRONMENTS, "development"),
            host=p.text("HOST") or "127.0.0.1",
            port=p.integer("PORT", 8000, 1, 65535),
            debug=p.boolean("DEBUG", False),
            access_log=p.boolean(
                "ACCESS_LOG", env.get("ENVIRONMENT", "").strip().lower() != "production"
            ),
            redis_url=redis_url,
            redis_ssl_ca_certs=p.text("REDIS_SSL_CA_CERTS"),
            redis_tls_insecure=p.boolean("REDIS_TLS_INSECURE", False),
            redis_max_connections=p.integer("REDIS_MAX_CONNECTIONS", 64, 1, 10_000),
            redis_timeout_seconds=p.number("REDIS_TIMEOUT_SECONDS", 2.0, 0.05, 60),
            openai_api_key=p.text("OPENAI_API_KEY"),
            openai_model=p.text("OPENAI_MODEL") or "gpt-4o-mini",
            openai_base_url=p.text("OPENAI_BASE_URL"),
            openai_timeout_seconds=p.number("OPENAI_TIMEOUT_SECONDS", 30.0, 1, 600),
            cache_ttl_hours=p.number("CACHE_TTL_HOURS", 24.0, 0.001, 24 * 365),
            cache_memory_entries=p.integer("CACHE_MEMORY_ENTRIES", 2048, 1, 1_000_000),
            max_content_length=p.integer("MAX_CONTENT_LENGTH", 10_000, 100, 1_000_000),
            max_body_bytes=p.integer("MAX_BODY_BYTES", 65_536, 1024, 16 * 1024 * 1024),
            max_thread_tweets=p.integer("MAX_THREAD_TWEETS", 25, 2, 100),
            fetch_timeout_seconds=p.number("FETCH_TIMEOUT_SECONDS", 10.0, 0.1, 120),
            fetch_max_bytes=p.integer("FETCH_MAX_BYTES", 5 * 1024 * 1024, 1024, 100 * 1024 * 1024),
            fetch_allowed_ports=p.items("FETCH_ALLOWED_PORTS", ("80", "443"), _port),
            fetch_allow_private_networks=p.boolean("FETCH_ALLOW_PRIVATE_NETWORKS", False),
            allowed_domains=p.items("ALLOWED_DOMAINS", (), _domain_pattern),
            rate_limit_enabled=p.boolean("RATE_LIMIT_ENABLED", True),
            rate_limit_burst=p.integer("RATE_LIMIT_BURST", 10, 1, 10**9),
            rate_limit_burst_seconds=p.integer("RATE_LIMIT_BURST_SECONDS", 60, 1, 86_400),
            rate_limit_requests=p.integer("RATE_LIMIT_REQUESTS", 50, 1, 10**9),
            rate_limit_window_hours=p.number("RATE_LIMIT_WINDOW_HOURS", 1.0, 0.001, 24 * 31),
            rate_limit_premium_requests=p.integer("RATE_LIMIT_PREMIUM_REQUESTS", 200, 1, 10**9),
            rate_limit_client_clock=p.boolean("RATE_LIMIT_CLIENT_CLOCK", False),
            free_tier_enabled=p.boolean("FREE_TIER_ENABLED", True),
            free_tier_daily_limit=p.integer("FREE_TIER_DAILY_LIMIT", 5, 0, 10**9),
            free_tier_monthly_limit=p.integer("FREE_TIER_MONTHLY_LIMIT", 20, 0, 10**9),
            cors_origins=p.items("CORS_ORIGINS", (), _origin),
            api_keys=p.items("API_KEYS", (), _api_key),
            forwarded_allow_ips=p.items("FORWARDED_ALLOW_IPS", ("127.0.0.1",), str),
        )
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            p.problems.append(
                "REDIS_URL must start with redis://, rediss:// or unix:// "
                "(e.g. rediss://default:password@host:6379)."
            )
        if values["environment"] == "production" and values["fetch_allow_private_networks"]:
            p.problems.append(
                "FETCH_ALLOW_PRIVATE_NETWORKS=true is for local tests only and is refused when "
                "ENVIRONMENT=production."
            )
        if p.problems:
            raise ConfigError(
                "Invalid configuration:\n" + "\n".join(f"  - {m}" for m in p.problems)
            )
        return cls(**values)


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError("a port is a number from 1 to 65535")
    return port


def _domain_pattern(raw: str) -> str:
    name = raw.lower().rstrip(".")
    bare = name[2:] if name.startswith("*.") else name
    if not bare or "*" in bare or "/" in bare or ":" in bare or "." not in bare:
        raise ValueError("use exact host names or *.suffix patterns, e.g. example.com,*.blog.org")
    return name


def _origin(raw: str) -> str:
    if raw == "*":
        return raw
    if not raw.startswith(("http://", "https://")) or raw.rstrip("/").count("/") > 2:
        raise ValueError("an origin looks like https://app.example.com (scheme, host, no path)")
    return raw.rstrip("/")


def _api_key(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("each API key must be at least 16 characters long")
    return raw


class _Parser:
    """Reads variables one by one, collecting every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.env.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.problems.append(f"{name} must be true or false, not {raw!r}.")
        return default

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = (self.text(name) or default).lower()
        if value not in options:
            self.problems.append(f"{name} must be one of {', '.join(options)}, not {value!r}.")
            return default
        return value

    def _bounded(
        self, name: str, default: T, lo: float, hi: float, convert: Callable[[str], T], kind: str
    ) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = convert(raw)
        except ValueError:
            self.problems.append(f"{name} must be {kind}, not {raw!r}.")
            return default
        if not lo <= value <= hi:  # type: ignore[operator]
            self.problems.append(f"{name} must be between {lo:g} and {hi:g}, not {raw}.")
            return default
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        return self._bounded(name, default, lo, hi, int, "a whole number")

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        return self._bounded(name, default, lo, hi, float, "a number")

    def items(
        self, name: str, default: tuple[str, ...], convert: Callable[[str], T]
    ) -> tuple[T, ...]:
        raw = self.env.get(name)
        parts = default if raw is None else tuple(s.strip() for s in raw.split(","))
        out: list[T] = []
        for part in parts:
            if not part:
                continue
            try:
                out.append(convert(part))
            except ValueError as exc:
                shown = "an entry" if name.lower() in _SECRETS else repr(part)
                self.problems.append(f"{name}: {shown} is not valid ({exc}).")
        return tuple(out)
