"""Every request and response body of the HTTP API as a msgspec Struct: the one description of
the wire format, and the source of the OpenAPI document (web/openapi.py; web/endpoints.py says
which endpoint sends which). Domain Structs that are bodies as they are (Tweet, UsageStatus,
UsageSeries, Stripe's event) are defined in their packages and named here."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from threadr.analytics.series import UsageSeries
from threadr.billing.events import Event as StripeEvent
from threadr.limits.quota import UsageStatus
from threadr.source import SourceType
from threadr.subscribers.store import EmailStats
from threadr.writing.options import OptionSpec, json_schema
from threadr.writing.thread import Generator, Span, ThreadWarning, Tweet

from .account_bodies import (
    CheckoutCreated,
    CheckoutRequest,
    Credentials,
    Me,
    PaymentConfig,
    PremiumCheck,
    PremiumGranted,
    PremiumGrantRequest,
    SavedThreadDetail,
    SavedThreadList,
    SavedThreadSummary,
    SessionInfo,
    SessionList,
    TokenResponse,
    UserProfile,
    WebhookReceived,
)
from .formats import Email, Link

__all__ = [
    "CacheDeleteRequest",
    "CacheDeleted",
    "CacheStats",
    "CheckoutCreated",
    "CheckoutRequest",
    "Credentials",
    "EmailRemoved",
    "EmailStats",
    "ErrorBody",
    "GenerateRequest",
    "Health",
    "Me",
    "OptionsCatalogue",
    "PaymentConfig",
    "PolicyStatus",
    "PremiumCheck",
    "PremiumGrantRequest",
    "PremiumGranted",
    "RateLimitStatus",
    "Readiness",
    "RedisStats",
    "RemoveEmailRequest",
    "RewriteRequest",
    "RewriteResponse",
    "SavedThreadDetail",
    "SavedThreadList",
    "SavedThreadSummary",
    "SentTweet",
    "ServiceStates",
    "SessionInfo",
    "SessionList",
    "Span",
    "StreamMeta",
    "StripeEvent",
    "SubscribeRequest",
    "SubscribeResponse",
    "ThreadResponse",
    "ThreadWarning",
    "TokenResponse",
    "Tweet",
    "UsageSeries",
    "UsageStatus",
    "UserProfile",
    "WebhookReceived",
]


# Decoded as an object of plain values (nothing nested: no depth to recurse into) and checked
# by writing/options.py's parse_options, whose 422s name the option at fault in words;
# documented as the options themselves.
ThreadOptions = Annotated[
    dict[str, str | int | float | bool | None],
    msgspec.Meta(title="ThreadOptions", extra_json_schema=json_schema()),
]


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/generate: exactly one of `url` or `text`, and optionally `options`
    (GET /api/options lists them)."""

    url: Link | None = None
    text: str | None = None
    options: ThreadOptions | None = None


class ThreadResponse(msgspec.Struct):
    """POST /api/generate: the thread (X-Cache tells a hit from a miss, and so does `cached`);
    `warnings`: claims of its tweets the article does not back, and what the writer could not
    do of the options."""

    thread: list[Tweet]
    source_type: SourceType
    title: str | None
    cached: bool
    generator: Generator
    success: bool = True
    error: None = None
    warnings: list[ThreadWarning] = []


class StreamMeta(msgspec.Struct):
    """The `meta` event of POST /api/generate/stream, ahead of the first tweet: what the thread
    is of (`url`: the URL as fetched, normalised; null for a text), the article's title and
    whether the thread came from the cache."""

    source_type: SourceType
    url: str | None
    title: str | None
    cached: bool


class SentTweet(msgspec.Struct):
    """A tweet of the thread sent to POST /api/rewrite, as POST /api/generate answered it (or
    edited): only `content` is read, and other fields are ignored."""

    content: str


class RewriteRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/rewrite: the thread as the client has it (tweet objects or plain
    strings), the position of the tweet to write anew (0-based), optionally what to change,
    the thread's options, and the article it was made from — `url` or `text`, as it was sent to
    POST /api/generate — to ground the new tweet in."""

    thread: list[SentTweet | str]
    index: int
    instruction: str | None = None
    options: ThreadOptions | None = None
    url: Link | None = None
    text: str | None = None


class RewriteResponse(msgspec.Struct):
    """POST /api/rewrite: the new tweet for position `index`, numbered as the thread is;
    `source` set when it rests on a passage of the article."""

    tweet: Tweet
    index: int
    generator: Generator
    grounded: bool  # an article was sent, and read
    # Numbers and quoted phrases of the tweet its article does not hold (as a thread's).
    warnings: list[ThreadWarning] = []
    success: bool = True


class OptionsCatalogue(msgspec.Struct):
    """GET /api/options: every option of POST /api/generate, with its default."""

    options: list[OptionSpec]


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error: one sentence for people, a stable code for machines, and typed extras."""

    detail: str
    code: str
    usage: UsageStatus | None = None  # 402 quota_exceeded: the caller's usage
    upstream_status: int | None = None  # 502 fetch_failed: the status the site answered
    ready: bool | None = None  # 503 from /readiness: always false


class PolicyStatus(msgspec.Struct):
    name: str
    limit: int
    window_seconds: int
    remaining: int
    reset_in_seconds: int


class RateLimitStatus(msgspec.Struct):
    """GET /api/rate-limit-status: the leading fields describe the `hourly` policy."""

    requests_used: int
    requests_remaining: int
    total_limit: int
    window_hours: float
    minutes_until_reset: int
    reset_in_seconds: int
    using_redis: bool
    enabled: bool
    policies: list[PolicyStatus]
    # True while a configured Redis is unreachable and this process's memory decides: the
    # counts are this instance's own since the outage began.
    degraded: bool = False


class ServiceStates(msgspec.Struct, frozen=True):
    redis: Literal["connected", "disconnected", "not_configured"]
    openai: Literal["configured", "not_configured"]


class Health(msgspec.Struct, frozen=True):
    """GET /health and GET /."""

    status: Literal["healthy", "degraded"]
    services: ServiceStates
    version: str


class Readiness(msgspec.Struct):
    """GET /readiness when ready (else an ErrorBody with `ready: false`)."""

    ready: bool
    health: Health


class CacheDeleteRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of DELETE /api/cache (admin): the input whose thread to forget, as it was sent to
    POST /api/generate — exactly one of `url` or `text`, and its `options` if it had any."""

    url: Link | None = None
    text: str | None = None
    options: ThreadOptions | None = None


class CacheDeleted(msgspec.Struct):
    """DELETE /api/cache: `removed` tells whether there was an entry."""

    success: bool
    removed: bool


class CacheStats(msgspec.Struct):
    """GET /api/cache/stats (admin). With `available: false` the counts are this process's own
    (its in-memory entries, its hits and misses since start) and `memory_used` is null."""

    available: bool
    cache_entries: int
    hits: int
    misses: int
    hit_rate: float | None  # hits / (hits + misses); null before the first lookup
    memory_used: str | None
    ttl_hours: float


class RedisStats(msgspec.Struct):
    """GET /api/analytics/redis-stats (admin). With `available: false` every number is null.
    `rate_limit_entries` is an estimate (docs/api.md)."""

    available: bool
    cache_entries: int | None = None
    rate_limit_entries: int | None = None
    memory_used: str | None = None
    connected_clients: int | None = None
    used_memory_peak: str | None = None
    evicted_keys: int | None = None
    maxmemory_policy: str | None = None
    uptime_s: int | None = None
    ops_per_sec: int | None = None
    keyspace_hits: int | None = None
    keyspace_misses: int | None = None
    # Risks in Redis's own configuration, in words (an eviction policy that may drop limiter,
    # quota, session or premium keys); empty when none is seen.
    warnings: list[str] = []


class SubscribeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/subscribe; `source` is a short label (a form, a campaign)."""

    email: Email
    source: str | None = None


class SubscribeResponse(msgspec.Struct, kw_only=True):
    """POST /api/subscribe: the same body whether the address was new or known."""

    success: bool = True
    message: str


class RemoveEmailRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of DELETE /api/emails (admin)."""

    email: Email


class EmailRemoved(msgspec.Struct, kw_only=True):
    """DELETE /api/emails: whether the address was on the list."""

    success: bool = True
    removed: bool
