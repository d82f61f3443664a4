"""msgspec Structs at every boundary: request and response bodies, cache entries."""

from __future__ import annotations

from typing import Literal

import msgspec


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/generate: exactly one of `url` or `text`."""

    url: str | None = None
    text: str | None = None


class Tweet(msgspec.Struct):
    number: int
    total: int
    content: str  # "i/n text"
    character_count: int  # X weighted length of `content`, <= 280


Generator = Literal["openai", "offline"]
SourceType = Literal["url", "text"]


class ThreadResponse(msgspec.Struct):
    thread: list[Tweet]
    source_type: SourceType
    title: str | None
    cached: bool
    generator: Generator
    success: bool = True
    error: None = None


class ErrorBody(msgspec.Struct, omit_defaults=True):
    detail: str
    code: str


class Services(msgspec.Struct, frozen=True):
    redis: Literal["connected", "disconnected", "not_configured"]
    openai: Literal["configured", "not_configured"]


class Health(msgspec.Struct, frozen=True):
    status: Literal["healthy", "degraded"]
    services: Services
    version: str


class CacheEntry(msgspec.Struct, array_like=True):
    """A cached thread. Stored as msgpack; `schema` guards against decoding an old layout.

    Evolution: new fields go at the end with a default; an incompatible change bumps both
    CACHE_SCHEMA and the key version in keys.py instead of migrating stored data.
    """

    schema: int
    thread: list[Tweet]
    source_type: SourceType
    title: str | None
    generator: Generator
    created_at: float
