"""Settings: a pure function of an environment mapping, validated all at once at start-up.

Each setting is declared once, on its field (fields.py: its variable, its default and its
bounds); the parser reads the kind of value from the default (bool, int, float, str, tuple),
and rules.py judges the values, together."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .fields import SECRETS, api_key, domain_pattern, origin, port_number, setting
from .parser import Parser
from .rules import problems, raise_if

ENVIRONMENTS = ("development", "production")
LOG_FORMATS = ("text", "json")
# Set by Railway on every deployment (and in `railway run`): there, every request comes through
# Railway's edge proxy, which appends the address it saw to X-Forwarded-For. Its right-most
# entry is the edge's word; anything left of it the client may have written itself.
RAILWAY_VARIABLES = (
    "RAILWAY_ENVIRONMENT_ID",
    "RAILWAY_ENVIRONMENT_NAME",
    "RAILWAY_ENVIRONMENT",
    "RAILWAY_PROJECT_ID",
    "RAILWAY_SERVICE_ID",
)
RAILWAY_CLIENT_IP_HEADER = "x-forwarded-for"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service; documented one by one in docs/configuration.md."""

    environment: str = setting("ENVIRONMENT", "development", choices=ENVIRONMENTS)
    host: str = setting("HOST", "127.0.0.1")
    port: int = setting("PORT", 8000, 1, 65535)
    debug: bool = setting("DEBUG", False)
    # Logs and metrics (observability/; docs/operations.md)
    access_log: bool = setting("ACCESS_LOG", True, in_production=False)
    log_format: str = setting("LOG_FORMAT", "text", choices=LOG_FORMATS, in_production="json")
    metrics_enabled: bool = setting("METRICS_ENABLED", True)
    metrics_token: str | None = setting("METRICS_TOKEN", None)
    prometheus_multiproc_dir: str | None = setting("PROMETHEUS_MULTIPROC_DIR", None)
    # Processes `threadr serve` runs (docs/deployment.md); `--workers` wins over the variable
    web_concurrency: int = setting("WEB_CONCURRENCY", 1, 1, 256)
    # Connections `threadr serve` holds, per process (docs/slow-clients.md)
    keep_alive_seconds: int = setting("KEEP_ALIVE_SECONDS", 5, 1, 3600)
    max_connections: int = setting("MAX_CONNECTIONS", 1000, 1, 1_000_000)
    header_timeout_seconds: float = setting("HEADER_TIMEOUT_SECONDS", 10.0, 0.1, 600)
    max_header_bytes: int = setting("MAX_HEADER_BYTES", 65_536, 1024, 16 * 1024 * 1024)
    # Redis (None → in-memory stores); Railway sets REDIS_PRIVATE_URL too.
    redis_url: str | None = setting(("REDIS_URL", "REDIS_PRIVATE_URL"), None)
    redis_ssl_ca_certs: str | None = setting("REDIS_SSL_CA_CERTS", None)
    redis_tls_insecure: bool = setting("REDIS_TLS_INSECURE", False)
    redis_max_connections: int = setting("REDIS_MAX_CONNECTIONS", 64, 1, 10_000)
    redis_timeout_seconds: float = setting("REDIS_TIMEOUT_SECONDS", 2.0, 0.05, 60)
    redis_cluster: bool = setting("REDIS_CLUSTER", False)  # REDIS_URL names any node of a cluster
    # OpenAI (None → offline writer)
    openai_api_key: str | None = setting("OPENAI_API_KEY", None)
    openai_model: str = setting("OPENAI_MODEL", "gpt-4o-mini")
    openai_base_url: str | None = setting("OPENAI_BASE_URL", None)
    openai_timeout_seconds: float = setting("OPENAI_TIMEOUT_SECONDS", 30.0, 1, 600)
    # Cache
    cache_ttl_hours: float = setting("CACHE_TTL_HOURS", 24.0, 0.001, 24 * 365)
    cache_memory_entries: int = setting("CACHE_MEMORY_ENTRIES", 2048, 1, 1_000_000)
    # Input limits
    max_content_length: int = setting("MAX_CONTENT_LENGTH", 10_000, 100, 1_000_000)
    max_body_bytes: int = setting("MAX_BODY_BYTES", 65_536, 1024, 16 * 1024 * 1024)
    max_thread_tweets: int = setting("MAX_THREAD_TWEETS", 25, 2, 100)
    # Fetching articles
    fetch_timeout_seconds: float = setting("FETCH_TIMEOUT_SECONDS", 10.0, 0.1, 120)
    fetch_max_bytes: int = setting("FETCH_MAX_BYTES", 5 * 1024 * 1024, 1024, 100 * 1024 * 1024)
    fetch_allowed_ports: tuple[int, ...] = setting(
        "FETCH_ALLOWED_PORTS", (80, 443), each=port_number
    )
    fetch_allow_private_networks: bool = setting("FETCH_ALLOW_PRIVATE_NETWORKS", False)
    allowed_domains: tuple[str, ...] = setting("ALLOWED_DOMAINS", (), each=domain_pattern)
    # Reading articles: worker processes, each page within a hard time limit
    extract_workers: int = setting("EXTRACT_WORKERS", 2, 1, 64)
    extract_timeout_seconds: float = setting("EXTRACT_TIMEOUT_SECONDS", 5.0, 0.1, 120)
    # Rate limits (limits/policies.py)
    rate_limit_enabled: bool = setting("RATE_LIMIT_ENABLED", True)
    rate_limit_burst: int = setting("RATE_LIMIT_BURST", 10, 1, 10**9)
    rate_limit_burst_seconds: int = setting("RATE_LIMIT_BURST_SECONDS", 60, 1, 86_400)
    rate_limit_requests: int = setting("RATE_LIMIT_REQUESTS", 50, 1, 10**9)
    rate_limit_window_hours: float = setting("RATE_LIMIT_WINDOW_HOURS", 1.0, 0.001, 24 * 31)
    rate_limit_premium_requests: int = setting("RATE_LIMIT_PREMIUM_REQUESTS", 200, 1, 10**9)
    rate_limit_client_clock: bool = setting("RATE_LIMIT_CLIENT_CLOCK", False)
    rate_limit_ipv6_prefix: int = setting("RATE_LIMIT_IPV6_PREFIX", 64, 32, 128)
    # Free tier (limits/quota.py)
    free_tier_enabled: bool = setting("FREE_TIER_ENABLED", True)
    free_tier_daily_limit: int = setting("FREE_TIER_DAILY_LIMIT", 5, 0, 10**9)
    free_tier_monthly_limit: int = setting("FREE_TIER_MONTHLY_LIMIT", 20, 0, 10**9)
    # Edges
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", (), each=origin)
    api_keys: tuple[str, ...] = setting("API_KEYS", (), each=api_key)
    # Accounts and sessions (accounts/; docs/accounts.md)
    session_ttl_days: float = setting("SESSION_TTL_DAYS", 30.0, 0.001, 366)
    session_max_days: float = setting("SESSION_MAX_DAYS", 90.0, 0.001, 3660)
    sessions_per_account: int = setting("SESSIONS_PER_ACCOUNT", 20, 1, 1000)
    argon2_time_cost: int = setting("ARGON2_TIME_COST", 3, 1, 20)
    argon2_memory_kib: int = setting("ARGON2_MEMORY_KIB", 65_536, 8, 4 * 1024 * 1024)
    argon2_parallelism: int = setting("ARGON2_PARALLELISM", 4, 1, 64)
    argon2_queue: int = setting("ARGON2_QUEUE", 128, 1, 100_000)
    login_attempts_per_email: int = setting("LOGIN_ATTEMPTS_PER_EMAIL", 5, 1, 10**6)
    login_attempts_window_minutes: int = setting("LOGIN_ATTEMPTS_WINDOW_MINUTES", 15, 1, 1440)
    login_attempts_per_client: int = setting("LOGIN_ATTEMPTS_PER_CLIENT", 20, 1, 10**6)
    registrations_per_client: int = setting("REGISTRATIONS_PER_CLIENT", 10, 1, 10**6)
    # Saved threads (history/)
    history_free_threads: int = setting("HISTORY_FREE_THREADS", 20, 0, 100_000)
    history_premium_threads: int = setting("HISTORY_PREMIUM_THREADS", 500, 0, 100_000)
    # Premium and Stripe (billing/)
    premium_price_usd: float = setting("PREMIUM_PRICE_USD", 4.99, 0.5, 100_000)
    premium_duration_days: int = setting("PREMIUM_DURATION_DAYS", 30, 1, 366)
    stripe_secret_key: str | None = setting("STRIPE_SECRET_KEY", None)
    stripe_webhook_secret: str | None = setting("STRIPE_WEBHOOK_SECRET", None)
    stripe_price_id: str | None = setting("STRIPE_PRICE_ID", None)
    stripe_api_base: str | None = setting("STRIPE_API_BASE", None)  # tests: a local fake Stripe
    analytics_enabled: bool = setting("ANALYTICS_ENABLED", True)
    analytics_retention_days: int = setting("ANALYTICS_RETENTION_DAYS", 90, 1, 3660)
    forwarded_allow_ips: tuple[str, ...] = setting("FORWARDED_ALLOW_IPS", ("127.0.0.1",), each=str)
    # The header an edge proxy passes the client's address in (web/middleware/client.py): unset,
    # Railway's when Railway's variables are present, else none (the peer's address counts).
    client_ip_header: str | None = setting("CLIENT_IP_HEADER", None)

    def __post_init__(self) -> None:
        # Also for settings built in code (tests, tools), not only from the environment: a
        # limit of 0 would divide by zero deep inside the limiter instead of saying why here.
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        raise_if(problems(dataclasses.fields(self), values))

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def session_ttl_seconds(self) -> int:
        return max(1, round(self.session_ttl_days * 86_400))

    @property
    def session_max_seconds(self) -> int:
        return max(1, round(self.session_max_days * 86_400))

    @property
    def cache_ttl_seconds(self) -> int:
        return max(1, round(self.cache_ttl_hours * 3600))

    def __repr__(self) -> str:
        # Secrets never reach a log line or a traceback through repr().
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRETS and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: os.environ); ConfigError names every problem at once."""
        env = os.environ if env is None else env
        p = Parser(env)
        values = {f.name: p.read(f) for f in dataclasses.fields(cls)}
        if values["environment"] == "production":
            for f in dataclasses.fields(cls):
                if f.metadata["in_production"] is not None and p.unset(f):
                    values[f.name] = f.metadata["in_production"]
        values["client_ip_header"] = _client_ip_header(values["client_ip_header"], env)
        raise_if(p.problems + problems(dataclasses.fields(cls), values))
        return cls(**values)


def _client_ip_header(raw: str | None, env: Mapping[str, str]) -> str | None:
    """CLIENT_IP_HEADER as a lower-case header name, or None for the peer's address: `none`
    says so explicitly; unset, Railway's preset applies wherever Railway's variables are."""
    if raw is None:
        return RAILWAY_CLIENT_IP_HEADER if any(env.get(n) for n in RAILWAY_VARIABLES) else None
    name = raw.lower()
    return None if name == "none" else name
