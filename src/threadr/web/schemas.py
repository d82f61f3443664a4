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


# What the document (GET /openapi.json) says a string holds; decoding checks nothing more: the
# rules are source.py's and subscribers/address.py's, and answer with their own codes.
Link = Annotated[str, msgspec.Meta(extra_json_schema={"format": "uri"})]
Email = Annotated[str, msgspec.Meta(extra_json_schema={"format": "email"})]
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


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/auth/register and POST /api/auth/login."""

    email: Email
    password: str


class UserProfile(msgspec.Struct, kw_only=True):
    """The account as its owner sees it."""

    user_id: str
    email: str
    created_at: str  # ISO 8601, UTC
    is_premium: bool
    premium_expires_at: str | None = None


class TokenResponse(msgspec.Struct, kw_only=True):
    """POST /api/auth/register (201) and POST /api/auth/login (200): the session token, shown
    once; send it as `Authorization: Bearer <access_token>`."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme, not a secret)
    expires_in: int  # seconds of inactivity after which the session ends (it slides with use)
    user: UserProfile


class Me(msgspec.Struct, kw_only=True):
    """GET /api/auth/me."""

    user_id: str
    email: str
    created_at: str
    is_premium: bool
    premium_expires_at: str | None = None
    usage: UsageStatus


class SessionInfo(msgspec.Struct, kw_only=True):
    """One of the caller's sessions (GET /api/auth/sessions); `id` is for DELETE, and is not
    the token."""

    id: str
    created_at: str
    last_seen: str
    ip: str
    user_agent: str
    current: bool


class SessionList(msgspec.Struct, kw_only=True):
    sessions: list[SessionInfo]


class PremiumCheck(msgspec.Struct, kw_only=True):
    """GET /api/premium/check."""

    has_premium: bool
    premium_expires_at: str | None = None
    usage_status: UsageStatus
    needs_payment: bool
    premium_price: float
    message: str


class PremiumGrantRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/premium/grant (admin). `reference` is the grant's idempotency key:
    the same reference again changes nothing (a retried call is safe)."""

    email: Email
    duration_days: Annotated[int, msgspec.Meta(ge=1, le=366)]
    reference: str


class PremiumGranted(msgspec.Struct, kw_only=True):
    """POST /api/premium/grant: the holder's new expiry; `applied` is false for a reference
    that had been applied before."""

    success: bool = True
    expires_at: str
    applied: bool
    holder: Literal["account", "email"]


class SavedThreadSummary(msgspec.Struct, kw_only=True):
    """One saved thread of GET /api/threads: its first tweet as `preview`, the whole thread
    at GET /api/threads/{id}."""

    id: str
    saved_at: str  # ISO 8601, UTC
    source_type: SourceType
    url: str | None  # the normalised URL of a "url" thread; null for pasted text
    title: str | None
    generator: Generator
    tweet_count: int
    preview: str


class SavedThreadList(msgspec.Struct, kw_only=True):
    """GET /api/threads: newest first; `next_cursor` (null on the last page) fetches the next."""

    threads: list[SavedThreadSummary]
    next_cursor: str | None


class SavedThreadDetail(msgspec.Struct, kw_only=True):
    """GET /api/threads/{id}: a saved thread, its tweets as POST /api/generate sent them."""

    id: str
    saved_at: str  # ISO 8601, UTC
    source_type: SourceType
    url: str | None
    title: str | None
    generator: Generator
    thread: list[Tweet]


class PaymentConfig(msgspec.Struct, kw_only=True):
    """GET /api/payment/config: `payment_url` is the endpoint that starts a checkout (null
    while payments are not set up)."""

    stripe_configured: bool
    premium_price: float
    currency: str  # ISO 4217, lower case, as Stripe writes it
    payment_url: str | None
    premium_duration_days: int


class CheckoutRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/stripe/create-checkout-session (optional): where Stripe sends the
    buyer back, each a page on one of CORS_ORIGINS; defaults on the first of them."""

    success_url: str | None = None
    cancel_url: str | None = None


class CheckoutCreated(msgspec.Struct, kw_only=True):
    """POST /api/stripe/create-checkout-session: send the buyer to `checkout_url`."""

    checkout_url: str
    session_id: str


class WebhookReceived(msgspec.Struct, kw_only=True):
    """POST /api/webhooks/stripe: what the event did (`outcome`, docs/api.md); `duplicate`
    when the event had been handled before (and nothing was done again)."""

    received: bool = True
    event_id: str
    outcome: str
    duplicate: bool = False
