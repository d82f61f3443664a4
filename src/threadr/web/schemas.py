"""Every request and response body of the HTTP API as a msgspec Struct: the one description of
the wire format (and the future OpenAPI source). Domain Structs that are bodies as they are
(Tweet, UsageStatus) are defined in their packages and named here."""

from __future__ import annotations

from typing import Literal

import msgspec

from threadr.limits.quota import UsageStatus
from threadr.source import SourceType
from threadr.subscribers.store import EmailStats
from threadr.writing.finalize import Tweet
from threadr.writing.writer import Generator

__all__ = [
    "CacheDeleteRequest",
    "CacheDeleted",
    "CacheStats",
    "EmailRemoved",
    "EmailStats",
    "ErrorBody",
    "GenerateRequest",
    "Health",
    "PolicyStatus",
    "RateLimitStatus",
    "Readiness",
    "RedisStats",
    "RemoveEmailRequest",
    "ServiceStates",
    "SubscribeRequest",
    "SubscribeResponse",
    "ThreadResponse",
    "Tweet",
    "UsageStatus",
]


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/generate: exactly one of `url` or `text`."""

    url: str | None = None
    text: str | None = None


class ThreadResponse(msgspec.Struct):
    """POST /api/generate: the thread (X-Cache tells a hit from a miss, and so does `cached`)."""

    thread: list[Tweet]
    source_type: SourceType
    title: str | None
    cached: bool
    generator: Generator
    success: bool = True
    error: None = None


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
    POST /api/generate — exactly one of `url` or `text`."""

    url: str | None = None
    text: str | None = None


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


class SubscribeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/subscribe; `source` is a short label (a form, a campaign)."""

    email: str
    source: str | None = None


class SubscribeResponse(msgspec.Struct, kw_only=True):
    """POST /api/subscribe: the same body whether the address was new or known."""

    success: bool = True
    message: str


class RemoveEmailRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of DELETE /api/emails (admin)."""

    email: str


class EmailRemoved(msgspec.Struct, kw_only=True):
    """DELETE /api/emails: whether the address was on the list."""

    success: bool = True
    removed: bool
