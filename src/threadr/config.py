"""Settings: a pure function of an environment mapping, validated all at once at start-up.

Each setting is declared once, on its field: its variable, its default and its bounds. The
parser reads the kind of value from the default (bool, int, float, str, tuple)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import ConfigError

ENVIRONMENTS = ("development", "production")
LOG_FORMATS = ("text", "json")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
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
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token
_SECRETS = frozenset(
    {
        "redis_url",
        "openai_api_key",
        "api_keys",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "metrics_token",
    }
)


def _var(
    env: str | tuple[str, ...],
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    choices: tuple[str, ...] = (),
    each: Callable[[str], Any] | None = None,
    in_production: Any = None,
) -> Any:
    """A setting read from `env` (the first of several names that is set). `lo`/`hi` bound a
    number, `choices` a word, `each` converts every item of a comma-separated list;
    `in_production` replaces the default when ENVIRONMENT=production."""
    names = (env,) if isinstance(env, str) else env
    spec = dict(env=names, lo=lo, hi=hi, choices=choices, each=each, in_production=in_production)
    return dataclasses.field(default=default, metadata=spec)


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


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service; documented one by one in docs/configuration.md."""

    environment: str = _var("ENVIRONMENT", "development", choices=ENVIRONMENTS)
    host: str = _var("HOST", "127.0.0.1")
    port: int = _var("PORT", 8000, 1, 65535)
    debug: bool = _var("DEBUG", False)
    # Logs and metrics (observability/; docs/operations.md)
    access_log: bool = _var("ACCESS_LOG", True, in_production=False)
    log_format: str = _var("LOG_FORMAT", "text", choices=LOG_FORMATS, in_production="json")
    metrics_enabled: bool = _var("METRICS_ENABLED", True)
    metrics_token: str | None = _var("METRICS_TOKEN", None)
    prometheus_multiproc_dir: str | None = _var("PROMETHEUS_MULTIPROC_DIR", None)
    # Processes `threadr serve` runs (docs/deployment.md); `--workers` wins over the variable
    web_concurrency: int = _var("WEB_CONCURRENCY", 1, 1, 256)
    # Connections `threadr serve` holds, per process (docs/slow-clients.md)
    keep_alive_seconds: int = _var("KEEP_ALIVE_SECONDS", 5, 1, 3600)
    max_connections: int = _var("MAX_CONNECTIONS", 1000, 1, 1_000_000)
    header_timeout_seconds: float = _var("HEADER_TIMEOUT_SECONDS", 10.0, 0.1, 600)
    max_header_bytes: int = _var("MAX_HEADER_BYTES", 65_536, 1024, 16 * 1024 * 1024)
    # Redis (None → in-memory stores); Railway sets REDIS_PRIVATE_URL too.
    redis_url: str | None = _var(("REDIS_URL", "REDIS_PRIVATE_URL"), None)
    redis_ssl_ca_certs: str | None = _var("REDIS_SSL_CA_CERTS", None)
    redis_tls_insecure: bool = _var("REDIS_TLS_INSECURE", False)
    redis_max_connections: int = _var("REDIS_MAX_CONNECTIONS", 64, 1, 10_000)
    redis_timeout_seconds: float = _var("REDIS_TIMEOUT_SECONDS", 2.0, 0.05, 60)
    redis_cluster: bool = _var("REDIS_CLUSTER", False)  # REDIS_URL names any node of a cluster
    # OpenAI (None → offline writer)
    openai_api_key: str | None = _var("OPENAI_API_KEY", None)
    openai_model: str = _var("OPENAI_MODEL", "gpt-4o-mini")
    openai_base_url: str | None = _var("OPENAI_BASE_URL", None)
    openai_timeout_seconds: float = _var("OPENAI_TIMEOUT_SECONDS", 30.0, 1, 600)
    # Cache
    cache_ttl_hours: float = _var("CACHE_TTL_HOURS", 24.0, 0.001, 24 * 365)
    cache_memory_entries: int = _var("CACHE_MEMORY_ENTRIES", 2048, 1, 1_000_000)
    # Input limits
    max_content_length: int = _var("MAX_CONTENT_LENGTH", 10_000, 100, 1_000_000)
    max_body_bytes: int = _var("MAX_BODY_BYTES", 65_536, 1024, 16 * 1024 * 1024)
    max_thread_tweets: int = _var("MAX_THREAD_TWEETS", 25, 2, 100)
    # Fetching articles
    fetch_timeout_seconds: float = _var("FETCH_TIMEOUT_SECONDS", 10.0, 0.1, 120)
    fetch_max_bytes: int = _var("FETCH_MAX_BYTES", 5 * 1024 * 1024, 1024, 100 * 1024 * 1024)
    fetch_allowed_ports: tuple[int, ...] = _var("FETCH_ALLOWED_PORTS", (80, 443), each=_port)
    fetch_allow_private_networks: bool = _var("FETCH_ALLOW_PRIVATE_NETWORKS", False)
    allowed_domains: tuple[str, ...] = _var("ALLOWED_DOMAINS", (), each=_domain_pattern)
    # Reading articles: worker processes, each page within a hard time limit
    extract_workers: int = _var("EXTRACT_WORKERS", 2, 1, 64)
    extract_timeout_seconds: float = _var("EXTRACT_TIMEOUT_SECONDS", 5.0, 0.1, 120)
    # Rate limits (limits/policies.py)
    rate_limit_enabled: bool = _var("RATE_LIMIT_ENABLED", True)
    rate_limit_burst: int = _var("RATE_LIMIT_BURST", 10, 1, 10**9)
    rate_limit_burst_seconds: int = _var("RATE_LIMIT_BURST_SECONDS", 60, 1, 86_400)
    rate_limit_requests: int = _var("RATE_LIMIT_REQUESTS", 50, 1, 10**9)
    rate_limit_window_hours: float = _var("RATE_LIMIT_WINDOW_HOURS", 1.0, 0.001, 24 * 31)
    rate_limit_premium_requests: int = _var("RATE_LIMIT_PREMIUM_REQUESTS", 200, 1, 10**9)
    rate_limit_client_clock: bool = _var("RATE_LIMIT_CLIENT_CLOCK", False)
    rate_limit_ipv6_prefix: int = _var("RATE_LIMIT_IPV6_PREFIX", 64, 32, 128)
    # Free tier (limits/quota.py)
    free_tier_enabled: bool = _var("FREE_TIER_ENABLED", True)
    free_tier_daily_limit: int = _var("FREE_TIER_DAILY_LIMIT", 5, 0, 10**9)
    free_tier_monthly_limit: int = _var("FREE_TIER_MONTHLY_LIMIT", 20, 0, 10**9)
    # Edges
    cors_origins: tuple[str, ...] = _var("CORS_ORIGINS", (), each=_origin)
    api_keys: tuple[str, ...] = _var("API_KEYS", (), each=_api_key)
    # Accounts and sessions (accounts/; docs/accounts.md)
    session_ttl_days: float = _var("SESSION_TTL_DAYS", 30.0, 0.001, 366)
    session_max_days: float = _var("SESSION_MAX_DAYS", 90.0, 0.001, 3660)
    sessions_per_account: int = _var("SESSIONS_PER_ACCOUNT", 20, 1, 1000)
    argon2_time_cost: int = _var("ARGON2_TIME_COST", 3, 1, 20)
    argon2_memory_kib: int = _var("ARGON2_MEMORY_KIB", 65_536, 8, 4 * 1024 * 1024)
    argon2_parallelism: int = _var("ARGON2_PARALLELISM", 4, 1, 64)
    argon2_queue: int = _var("ARGON2_QUEUE", 128, 1, 100_000)
    login_attempts_per_email: int = _var("LOGIN_ATTEMPTS_PER_EMAIL", 5, 1, 10**6)
    login_attempts_window_minutes: int = _var("LOGIN_ATTEMPTS_WINDOW_MINUTES", 15, 1, 1440)
    login_attempts_per_client: int = _var("LOGIN_ATTEMPTS_PER_CLIENT", 20, 1, 10**6)
    registrations_per_client: int = _var("REGISTRATIONS_PER_CLIENT", 10, 1, 10**6)
    # Saved threads (history/)
    history_free_threads: int = _var("HISTORY_FREE_THREADS", 20, 0, 100_000)
    history_premium_threads: int = _var("HISTORY_PREMIUM_THREADS", 500, 0, 100_000)
    # Premium and Stripe (billing/)
    premium_price_usd: float = _var("PREMIUM_PRICE_USD", 4.99, 0.5, 100_000)
    premium_duration_days: int = _var("PREMIUM_DURATION_DAYS", 30, 1, 366)
    stripe_secret_key: str | None = _var("STRIPE_SECRET_KEY", None)
    stripe_webhook_secret: str | None = _var("STRIPE_WEBHOOK_SECRET", None)
    stripe_price_id: str | None = _var("STRIPE_PRICE_ID", None)
    stripe_api_base: str | None = _var("STRIPE_API_BASE", None)  # tests: a local fake Stripe
    analytics_enabled: bool = _var("ANALYTICS_ENABLED", True)
    analytics_retention_days: int = _var("ANALYTICS_RETENTION_DAYS", 90, 1, 3660)
    forwarded_allow_ips: tuple[str, ...] = _var("FORWARDED_ALLOW_IPS", ("127.0.0.1",), each=str)
    # The header an edge proxy passes the client's address in (web/middleware/client.py): unset,
    # Railway's when Railway's variables are present, else none (the peer's address counts).
    client_ip_header: str | None = _var("CLIENT_IP_HEADER", None)

    def __post_init__(self) -> None:
        # Also for settings built in code (tests, tools), not only from the environment: a
        # limit of 0 would divide by zero deep inside the limiter instead of saying why here.
        _raise_if(_problems({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}))

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
            if f.name in _SECRETS and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: os.environ); ConfigError names every problem at once."""
        env = os.environ if env is None else env
        p = _Parser(env)
        values = {f.name: p.read(f) for f in dataclasses.fields(cls)}
        if values["environment"] == "production":
            for f in dataclasses.fields(cls):
                if f.metadata["in_production"] is not None and p.unset(f):
                    values[f.name] = f.metadata["in_production"]
        values["client_ip_header"] = _client_ip_header(values["client_ip_header"], env)
        _raise_if(p.problems + _problems(values))
        return cls(**values)


def _client_ip_header(raw: str | None, env: Mapping[str, str]) -> str | None:
    """CLIENT_IP_HEADER as a lower-case header name, or None for the peer's address: `none`
    says so explicitly; unset, Railway's preset applies wherever Railway's variables are."""
    if raw is None:
        return RAILWAY_CLIENT_IP_HEADER if any(env.get(n) for n in RAILWAY_VARIABLES) else None
    name = raw.lower()
    return None if name == "none" else name


def _problems(values: Mapping[str, Any]) -> list[str]:
    """A sentence for every value its field's rules refuse (whatever the values came from)."""
    problems = []
    for f in dataclasses.fields(Settings):
        spec, value, name = f.metadata, values[f.name], f.metadata["env"][0]
        if spec["lo"] is not None and not spec["lo"] <= value <= spec["hi"]:
            shown = f"{value:g}" if isinstance(value, float) else f"{value}"
            problems.append(
                f"{name} must be between {spec['lo']:g} and {spec['hi']:g}, not {shown}."
            )
        if spec["choices"] and value not in spec["choices"]:
            problems.append(f"{name} must be one of {', '.join(spec['choices'])}, not {value!r}.")
        for item in value if spec["each"] else ():
            try:
                spec["each"](str(item))
            except ValueError as exc:
                shown = "an entry" if f.name in _SECRETS else repr(item)
                problems.append(f"{name}: {shown} is not valid ({exc}).")
    redis_url = values["redis_url"]
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append(
            "REDIS_URL (or REDIS_PRIVATE_URL) must start with redis://, rediss:// or unix:// "
            "(e.g. rediss://default:password@host:6379)."
        )
    elif redis_url is not None:
        problems += _redis_tls_problems(redis_url, insecure=values["redis_tls_insecure"])
    if values["redis_cluster"]:
        problems += _redis_cluster_problems(redis_url)
    header = values["client_ip_header"]
    if header is not None and not _HEADER_NAME.fullmatch(header):
        problems.append(
            "CLIENT_IP_HEADER must be a header name (e.g. x-forwarded-for) or none, "
            f"not {header!r}."
        )
    if values["metrics_token"] is not None and len(values["metrics_token"]) < 16:
        problems.append("METRICS_TOKEN must be at least 16 characters long.")
    if values["session_ttl_days"] > values["session_max_days"]:
        problems.append("SESSION_TTL_DAYS cannot be longer than SESSION_MAX_DAYS.")
    stripe_api_base = values["stripe_api_base"]
    if (
        values["environment"] == "production"
        and stripe_api_base
        and not stripe_api_base.startswith("https://")
    ):
        problems.append(
            "STRIPE_API_BASE must start with https:// when ENVIRONMENT=production: the Stripe "
            "secret key is sent there. Leave it unset to use https://api.stripe.com."
        )
    if values["environment"] == "production" and values["fetch_allow_private_networks"]:
        problems.append(
            "FETCH_ALLOW_PRIVATE_NETWORKS=true is for local tests only and is refused when "
            "ENVIRONMENT=production."
        )
    return problems


def unverified_tls_options(redis_url: str) -> list[str]:
    """`name=value` of each query option of a Redis URL that turns TLS certificate checks off.

    redis-py applies a URL's options over the client's own (storage/client.py), so these beat
    REDIS_TLS_INSECURE=false; they are read as redis-py reads them (the first of each name,
    its words for "none" and for false), which tests/storage/test_client.py holds it to."""
    options = _url_options(redis_url)
    found = []
    if options.get("ssl_cert_reqs") in ("none", "optional"):
        found.append(f"ssl_cert_reqs={options['ssl_cert_reqs']}")
    if options.get("ssl_check_hostname", "").upper() in ("0", "F", "FALSE", "N", "NO"):
        found.append(f"ssl_check_hostname={options['ssl_check_hostname']}")
    return found


def _url_options(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url).query
    except ValueError:  # e.g. an unclosed [IPv6]: redis-py cannot parse it either, so no options
        return {}
    return {name: values[0] for name, values in parse_qs(query).items()}


def _redis_tls_problems(redis_url: str, *, insecure: bool) -> list[str]:
    # Only the options are named: the URL itself may hold a password.
    if not redis_url.startswith("rediss://"):
        tls_options = sorted(name for name in _url_options(redis_url) if name.startswith("ssl_"))
        if not tls_options:
            return []
        return [
            f"REDIS_URL (or REDIS_PRIVATE_URL) has TLS options ({', '.join(tls_options)}) but "
            "is not a rediss:// URL: use rediss:// or remove them."
        ]
    off = unverified_tls_options(redis_url)
    if not off or insecure:
        return []
    return [
        f"REDIS_URL (or REDIS_PRIVATE_URL) turns TLS certificate verification off "
        f"({', '.join(off)}), so anyone on the network path could read and change the data. "
        "Remove it (REDIS_SSL_CA_CERTS trusts a private CA), or set REDIS_TLS_INSECURE=true "
        "to accept that knowingly."
    ]


def _redis_cluster_problems(redis_url: str | None) -> list[str]:
    # Only the parts are named: the URL itself may hold a password.
    if redis_url is None:
        return ["REDIS_CLUSTER=true needs REDIS_URL naming any node of the cluster."]
    if redis_url.startswith("unix://"):
        return [
            "REDIS_CLUSTER=true: a cluster is reached over TCP, so REDIS_URL must be redis:// "
            "or rediss://, not unix://."
        ]
    try:
        path = urlsplit(redis_url).path
    except ValueError:
        return []  # redis-py refuses it at start-up, in its own words
    db = path.strip("/") or _url_options(redis_url).get("db", "0")
    if db == "0":
        return []
    return [
        f"REDIS_CLUSTER=true: a cluster has database 0 only, so REDIS_URL cannot name database "
        f"{db}; remove /{db} from it."
    ]


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError("Invalid configuration:\n" + "\n".join(f"  - {m}" for m in problems))


class _Parser:
    """Reads variables one by one, collecting every problem instead of stopping at the first.
    Each reader returns None for an unset (or, after noting the problem, invalid) variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def unset(self, f: dataclasses.Field[Any]) -> bool:
        return all(name not in self.env for name in f.metadata["env"])

    def read(self, f: dataclasses.Field[Any]) -> Any:
        spec, default = f.metadata, f.default
        for name in spec["env"]:
            value: Any
            if isinstance(default, tuple):
                value = self._items(name, spec["each"])
            elif isinstance(default, bool):
                value = self._boolean(name)
            elif isinstance(default, int | float):
                value = self._number(name, type(default))
            elif spec["choices"]:
                value = self._choice(name)
            else:
                value = self._text(name)
            if value is not None:
                return value
        return default

    def _text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def _boolean(self, name: str) -> bool | None:
        raw = self.env.get(name)
        if raw is None:
            return None
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.problems.append(f"{name} must be true or false, not {raw!r}.")
        return None

    def _choice(self, name: str) -> str | None:
        value = self._text(name)
        return None if value is None else value.lower()  # judged with the rest (_problems)

    def _number(self, name: str, kind: Callable[[str], float]) -> float | None:
        raw = self._text(name)
        if raw is None:
            return None
        try:
            value = kind(raw)
        except ValueError:
            shown = "a whole number" if kind is int else "a number"
            self.problems.append(f"{name} must be {shown}, not {raw!r}.")
            return None
        return value  # its bounds are checked with every other field's (_out_of_bounds)

    def _items(self, name: str, convert: Callable[[str], Any]) -> tuple[Any, ...] | None:
        raw = self.env.get(name)
        if raw is None:
            return None
        out: list[Any] = []
        for part in (s.strip() for s in raw.split(",")):
            if not part:
                continue
            try:
                out.append(convert(part))
            except ValueError as exc:
                shown = "an entry" if name.lower() in _SECRETS else repr(part)
                self.problems.append(f"{name}: {shown} is not valid ({exc}).")
        return tuple(out)
