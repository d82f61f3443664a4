"""Every request and response body of the HTTP API as a msgspec Struct: the one description of
the wire format (and the future OpenAPI source). Domain Structs that are bodies as they are
(Tweet, UsageStatus) are defined in their packages and named here."""

from __future__ import annotations

from typing import Literal

import msgspec

from threadr.limits.quota import UsageStatus
from threadr.source import SourceType
from threadr.writing.finalize import Tweet
from threadr.writing.writer import Generator

__all__ = [
    "ErrorBody",
    "GenerateRequest",
    "Health",
    "PolicyStatus",
    "RateLimitStatus",
    "Readiness",
    "ServiceStates",
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
