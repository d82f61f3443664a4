"""The HTTP API as one table: every endpoint with its bodies (the msgspec Structs of schemas.py),
the error codes it can answer, who may call it and the headers it sends. `openapi.py` turns it
into the OpenAPI document; tests/web/test_openapi.py fails when a route of the app is not here.

The codes are the `code`s of errors.py's tree as the handlers and the code under them raise
them (docs/api.md lists what each means)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from msgspec import Meta

from .billing import CHECKOUT_PATH
from .schemas import (
    CacheDeleted,
    CacheDeleteRequest,
    CacheStats,
    CheckoutCreated,
    CheckoutRequest,
    Credentials,
    EmailRemoved,
    EmailStats,
    ErrorBody,
    GenerateRequest,
    Health,
    Me,
    OptionsCatalogue,
    PaymentConfig,
    PremiumCheck,
    PremiumGranted,
    PremiumGrantRequest,
    RateLimitStatus,
    Readiness,
    RedisStats,
    RemoveEmailRequest,
    RewriteRequest,
    RewriteResponse,
    SavedThreadDetail,
    SavedThreadList,
    SessionList,
    StreamMeta,
    StripeEvent,
    SubscribeRequest,
    SubscribeResponse,
    ThreadResponse,
    TokenResponse,
    Tweet,
    UsageSeries,
    UsageStatus,
    WebhookReceived,
)
from .threads import MAX_LIMIT

# Who may call: anyone; anyone, counted as the account when a session token is sent; only with
# a session token; only with an admin key (X-API-Key); anyone, or only with METRICS_TOKEN when
# it is set.
Access = Literal["public", "token", "session", "admin", "metrics"]
Errors = Mapping[int, tuple[str, ...]]
JSON = "application/json"
CSV = "text/csv"


@dataclass(frozen=True, slots=True)
class Param:
    """A path, query or header parameter; `schema` is a type msgspec describes."""

    name: str
    where: Literal["path", "query", "header"]
    schema: Any
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation. `body` is the Struct of the success response (None: no body), `request`
    the Struct of the JSON request body, `example` one to show; `media` the success body's
    types (any but JSON is a string); `limited`: the success (and most errors) carry the
    RateLimit headers."""

    method: str
    path: str
    summary: str
    tag: str
    body: Any = None
    status: int = 200
    request: Any = None
    request_required: bool = True
    example: Any = None  # of the request body, for the docs
    errors: Errors = field(default_factory=dict)
    access: Access = "public"
    params: tuple[Param, ...] = ()
    limited: bool = False
    headers: tuple[str, ...] = ()  # more headers every success carries
    media: tuple[str, ...] = (JSON,)
    # A text/event-stream's events: each one's name and the Struct its `data` holds as JSON.
    events: tuple[tuple[str, Any], ...] = ()
    description: str = ""
    operation_id: str = ""  # when the one made of the method and path would not do


def merge(*groups: Errors) -> dict[int, tuple[str, ...]]:
    """The union of error-code groups, by status, each code once, in order."""
    merged: dict[int, tuple[str, ...]] = {}
    for group in groups:
        for status, codes in group.items():
            merged[status] = tuple(dict.fromkeys((*merged.get(status, ()), *codes)))
    return dict(sorted(merged.items()))


STORAGE: Errors = {503: ("storage_unavailable", "storage_not_configured")}
# A JSON body read by web/bodies.py and decoded into its Struct.
BODY: Errors = {
    400: ("invalid_json", "not_an_object", "body_timeout", "client_disconnected"),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
    422: ("validation_error",),
}
# An optional session token (a token that is not live is refused, never ignored); sessions
# live in Redis.
TOKEN = merge({401: ("invalid_token",)}, STORAGE)
SIGNED_IN = merge({401: ("not_signed_in", "invalid_token")}, STORAGE)
ADMIN: Errors = {401: ("unauthorized", "admin_closed"), 429: ("rate_limited",)}
# source.validate: the input rules of POST /api/generate and DELETE /api/cache.
INPUT: Errors = {
    403: ("url_scheme", "url_userinfo"),
    422: ("url_or_text", "empty_text", "text_too_long", "too_many_marks", "invalid_url"),
}
# Fetching and reading an article (articles/): a cache miss of a URL.
ARTICLE: Errors = {
    403: ("url_invalid", "url_private", "url_metadata", "url_port", "url_not_allowed"),
    422: (
        *("no_article", "unsupported_content_type", "unsupported_type", "page_too_large"),
        *("too_many_redirects", "page_too_slow", "page_too_complex", "unreadable_page"),
    ),
    502: ("fetch_failed", "dns_failed"),
    503: ("service_unavailable",),  # every article reader is busy
    504: ("fetch_timeout",),
}
PASSWORD: Errors = {
    422: ("password_too_short", "password_too_long", "password_is_email", "password_too_common")
}
EMAIL: Errors = {422: ("invalid_email",)}

_DAYS = Annotated[int, Meta(ge=1)]
_LIMIT = Annotated[int, Meta(ge=1, le=MAX_LIMIT)]
_ID = Annotated[str, Meta(min_length=1)]
_CREDENTIALS = {"email": "ann@example.com", "password": "correct horse battery staple"}
_ARTICLE_TEXT = (
    "Caching is the art of remembering answers. When a service does expensive work, the result "
    "can be kept and served again in microseconds."
)
# POST /api/generate, and its stream before the stream starts.
GENERATE_ERRORS = merge(
    BODY, TOKEN, INPUT, ARTICLE,
    {402: ("quota_exceeded",), 422: ("invalid_options", "unprocessable")},
    {429: ("rate_limited",)},
)  # fmt: skip
EVENT_STREAM = "text/event-stream"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/api/generate", "Turn an article (a URL) or a text into a thread", "threads",
        ThreadResponse, request=GenerateRequest, access="token", limited=True,
        headers=("X-Cache",), example={"text": _ARTICLE_TEXT}, errors=GENERATE_ERRORS,
        description="Exactly one of `url` or `text`, and optionally `options` (GET "
        "/api/options lists them; an option that is not allowed is a 422 `invalid_options` "
        "naming it). `X-Cache` tells a cache hit (free) from a miss (one free-tier generation); "
        "the same input with other options is another entry. A 402 adds `usage`, a 502 "
        "`fetch_failed` may add `upstream_status`.",
    ),
    Endpoint(
        "POST", "/api/generate/stream", "The same thread as server-sent events, tweet by tweet",
        "threads", request=GenerateRequest, access="token", limited=True,
        headers=("X-Cache",), example={"text": _ARTICLE_TEXT}, errors=GENERATE_ERRORS,
        media=(EVENT_STREAM,),
        events=(
            ("meta", StreamMeta), ("tweet", Tweet), ("done", ThreadResponse), ("error", ErrorBody)
        ),
        description="The body, limits, quota, cache and coalescing of POST /api/generate. Events: "
        "`meta` (a `StreamMeta`), one `tweet` (a `Tweet`) per tweet as soon as it is final, "
        "then `done` (the `ThreadResponse` POST /api/generate answers; it supersedes the tweets "
        "told, and a `tweet` whose `number` was told before replaces it) or `error` (an "
        "`ErrorBody`). The response starts with the first tweet: an error before it is the "
        "status and JSON body POST /api/generate would answer. A cache hit sends every event "
        "at once. `Cache-Control: no-cache`, `X-Accel-Buffering: no`.",
    ),
    Endpoint(
        "POST", "/api/rewrite", "One tweet of a thread written anew", "threads", RewriteResponse,
        request=RewriteRequest, access="token", limited=True,
        example={
            "thread": ["1/3 Caching is the art of remembering answers.",
                       "2/3 A cache keeps the result of expensive work.",
                       "3/3 That's the gist."],
            "index": 1, "instruction": "Make it punchier.", "text": _ARTICLE_TEXT,
        },
        errors=merge(
            BODY, TOKEN, INPUT, ARTICLE, {402: ("quota_exceeded",), 429: ("rate_limited",)},
            {422: ("invalid_options", "empty_thread", "thread_too_long", "tweet_too_long")},
            {422: ("invalid_index", "empty_tweet", "instruction_too_long")},
        ),
        description="`thread`: the tweets as POST /api/generate answered them (objects, of which "
        "only `content` is read, or strings); `index`: the one to write anew, from 0; "
        "`instruction`: what to change; `options`: the thread's (its numbering, tone, emoji, "
        "language); `url` or `text`: the article the thread was made from, as sent to POST "
        "/api/generate, to ground the tweet in (a URL is fetched again). The tweet is numbered "
        "for its place and fits 280 weighted characters. OpenAI when configured, else (or when "
        "it fails) the article's most salient passage the thread does not say yet. Counts as "
        "a request against the rate limits and as a quarter of a generation against the free "
        "tier (the 1st, 5th, 9th … rewrite of a UTC day reserves one).",
    ),
    Endpoint(
        "GET", "/api/options", "The options of POST /api/generate, with their defaults",
        "threads", OptionsCatalogue,
        description="For a form: each option's type, allowed values (or range), default and "
        "meaning. The same for every caller.",
    ),
    Endpoint(
        "GET", "/api/rate-limit-status", "The caller's rate limits (consumes nothing)", "limits",
        RateLimitStatus, access="token", errors=TOKEN,
    ),
    Endpoint(
        "GET", "/api/usage/status", "The caller's free-tier usage", "limits", UsageStatus,
        access="token", errors=TOKEN,
    ),
    Endpoint(
        "GET", "/health", "Liveness: 200 while the process can serve (HEAD too)", "operations",
        Health,
    ),
    Endpoint(
        "GET", "/", "The same as GET /health (HEAD too)", "operations", Health,
        operation_id="get_root",
    ),
    Endpoint(
        "GET", "/metrics", "Prometheus metrics of this process (all workers' with several)",
        "operations", access="metrics", media=("text/plain", "application/openmetrics-text"),
        errors={401: ("unauthorized",)},
        description="The text format, or OpenMetrics when `Accept` asks for it. Only with "
        "`Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set; a 404 with "
        "METRICS_ENABLED=false. The metrics are listed in docs/operations.md.",
    ),
    Endpoint(
        "GET", "/readiness", "Readiness: 503 while a configured Redis does not answer (HEAD "
        "too)", "operations", Readiness, errors={503: ("redis_unavailable",)},
    ),
    Endpoint(
        "POST", "/api/subscribe", "Add an email address to the list", "subscribers",
        SubscribeResponse, request=SubscribeRequest, limited=True,
        example={"email": "ann@example.com", "source": "footer"},
        errors=merge(BODY, EMAIL, {422: ("invalid_source",), 429: ("rate_limited",)}, STORAGE),
        description="The same answer whether the address was new or known.",
    ),
    Endpoint(
        "GET", "/api/emails/stats", "Subscription counts", "admin", EmailStats, access="admin",
        errors=merge(ADMIN, STORAGE),
    ),
    Endpoint(
        "GET", "/api/emails/export", "Every subscribed address, as CSV", "admin",
        access="admin", media=(CSV,), errors=merge(ADMIN, STORAGE),
        description="Columns `email,subscribed_at,source`. A failure after the first page "
        "cuts the transfer short.",
    ),
    Endpoint(
        "DELETE", "/api/emails", "Remove an email address from the list", "admin",
        EmailRemoved, request=RemoveEmailRequest, access="admin",
        example={"email": "ann@example.com"},
        errors=merge(ADMIN, BODY, EMAIL, STORAGE),
    ),
    Endpoint(
        "GET", "/api/cache/stats", "Cache entries, hits and misses of every instance", "admin",
        CacheStats, access="admin", errors=ADMIN,
    ),
    Endpoint(
        "GET", "/api/cache-stats", "The same as GET /api/cache/stats", "admin", CacheStats,
        access="admin", errors=ADMIN, operation_id="get_api_cache_stats_alias",
    ),
    Endpoint(
        "DELETE", "/api/cache", "Forget the cached thread of a URL or a text", "admin",
        CacheDeleted, request=CacheDeleteRequest, access="admin",
        example={"url": "https://example.com/post"},
        errors=merge(
            ADMIN, BODY, INPUT, {422: ("invalid_options",), 503: ("service_unavailable",)}
        ),
    ),
    Endpoint(
        "GET", "/api/analytics/redis-stats", "Redis INFO and key counts", "admin", RedisStats,
        access="admin", errors=ADMIN,
    ),
    Endpoint(
        "GET", "/api/usage/analytics", "Daily usage series (JSON, or CSV with format=csv)",
        "admin", UsageSeries, access="admin", media=(JSON, CSV),
        params=(
            Param("days", "query", _DAYS, "Days to return, today last: 1 to "
                  "ANALYTICS_RETENTION_DAYS (default 7)."),
            Param("format", "query", Literal["json", "csv"], "json (default) or csv."),
        ),
        errors=merge(ADMIN, {422: ("invalid_days", "invalid_format")}, STORAGE),
    ),
    Endpoint(
        "POST", "/api/auth/register", "Create an account, signed in", "accounts",
        TokenResponse, status=201, request=Credentials, limited=True, example=_CREDENTIALS,
        errors=merge(
            BODY, EMAIL, PASSWORD,
            {409: ("email_taken",), 429: ("rate_limited",), 503: ("auth_busy",)}, STORAGE,
        ),
    ),
    Endpoint(
        "POST", "/api/auth/login", "Sign in: a new session token", "accounts", TokenResponse,
        request=Credentials, limited=True, example=_CREDENTIALS,
        errors=merge(
            BODY, EMAIL, {401: ("invalid_credentials",), 429: ("rate_limited",)},
            {503: ("auth_busy",)}, STORAGE,
        ),
    ),
    Endpoint(
        "POST", "/api/auth/logout", "End this session at once", "accounts", status=204,
        access="session", errors=SIGNED_IN,
    ),
    Endpoint(
        "GET", "/api/auth/me", "The account, its premium and its usage", "accounts", Me,
        access="session", errors=merge(SIGNED_IN, {404: ("account_not_found",)}),
    ),
    Endpoint(
        "GET", "/api/auth/sessions", "The caller's sessions, newest first", "accounts",
        SessionList, access="session", errors=SIGNED_IN,
    ),
    Endpoint(
        "DELETE", "/api/auth/sessions/{sid}", "End one of the caller's sessions", "accounts",
        status=204, access="session", params=(Param("sid", "path", _ID, "A session's id."),),
        errors=merge(SIGNED_IN, {404: ("session_not_found",)}),
    ),
    Endpoint(
        "GET", "/api/premium/check", "The caller's premium, and whether they must pay",
        "premium", PremiumCheck, access="token", errors=TOKEN,
    ),
    Endpoint(
        "POST", "/api/premium/grant", "Grant or extend premium by email (idempotent)", "admin",
        PremiumGranted, request=PremiumGrantRequest, access="admin",
        example={"email": "bob@example.com", "duration_days": 30, "reference": "INV-2026-0042"},
        errors=merge(ADMIN, BODY, EMAIL, {422: ("invalid_reference",)}, STORAGE),
    ),
    Endpoint(
        "GET", "/api/payment/config", "Whether checkout is open, and at what price", "payments",
        PaymentConfig,
    ),
    Endpoint(
        "POST", CHECKOUT_PATH, "A Stripe Checkout Session for premium", "payments",
        CheckoutCreated, request=CheckoutRequest, request_required=False, access="session",
        errors=merge(
            SIGNED_IN, BODY, {422: ("redirect_not_allowed", "redirect_url_required")},
            {502: ("payment_provider_error", "payment_provider_timeout")},
            {503: ("payments_not_configured",)},
        ),
        description="The body is optional; without one, Stripe sends the buyer back to the "
        "first of CORS_ORIGINS.",
    ),
    Endpoint(
        "POST", "/api/webhooks/stripe", "Stripe's events (signed)", "payments",
        WebhookReceived, request=StripeEvent,
        params=(
            Param("Stripe-Signature", "header", str, "Stripe's signature of the raw body.",
                  required=True),
        ),
        errors=merge(
            {k: v for k, v in BODY.items() if k != 422},
            {400: ("invalid_signature", "invalid_event"), 503: ("payments_not_configured",)},
            STORAGE,
        ),
        description="Called by Stripe, not by the frontend: the signature covers the exact "
        "bytes sent. Each event id is handled once; a 5xx makes Stripe retry.",
    ),
    Endpoint(
        "GET", "/api/threads", "The caller's saved threads, newest first", "threads",
        SavedThreadList, access="session",
        params=(
            Param("limit", "query", _LIMIT, "Page size (default 20)."),
            Param("cursor", "query", str, "`next_cursor` of the previous page."),
        ),
        errors=merge(SIGNED_IN, {422: ("invalid_limit", "invalid_cursor")}),
    ),
    Endpoint(
        "GET", "/api/threads/{thread_id}", "One of the caller's saved threads", "threads",
        SavedThreadDetail, access="session",
        params=(Param("thread_id", "path", _ID, "A saved thread's id."),),
        errors=merge(SIGNED_IN, {404: ("thread_not_found",)}),
    ),
    Endpoint(
        "DELETE", "/api/threads/{thread_id}", "Forget one of the caller's saved threads",
        "threads", status=204, access="session",
        params=(Param("thread_id", "path", _ID, "A saved thread's id."),),
        errors=merge(SIGNED_IN, {404: ("thread_not_found",)}),
    ),
)  # fmt: skip
