"""Operator endpoints (admin, X-API-Key): GET /api/cache/stats (and /api/cache-stats),
DELETE /api/cache, GET /api/analytics/redis-stats. Every count comes from an index or a counter
(storage/stats.py): no handler walks the keyspace."""

from __future__ import annotations

import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from threadr.cache import key_for
from threadr.source import validate
from threadr.storage.gateway import UNAVAILABLE
from threadr.storage.stats import RATE_LIMIT_SAMPLES, eviction_warnings, snapshot
from threadr.writing.options import parse_options

from .admin import require_admin
from .bodies import decode_body, read_body
from .context import services
from .responses import JSON
from .schemas import CacheDeleted, CacheDeleteRequest, CacheStats, RedisStats

_decode_delete = msgspec.json.Decoder(CacheDeleteRequest)


async def cache_stats(request: Request) -> Response:
    """GET /api/cache/stats: entries, hits and misses of every instance, from Redis."""
    await require_admin(request)
    running = services(request)
    cache, ttl_hours = running.cache, running.settings.cache_ttl_hours
    shared = await snapshot(cache.gateway, time.time())
    if shared is UNAVAILABLE:
        # What this process knows: better than nothing, and `available` says whose it is.
        entries, hits, misses, memory = len(cache.memory), cache.hits, cache.misses, None
    else:
        entries, hits, misses = shared.cache_entries, shared.hits, shared.misses
        memory = shared.memory_used
    looked = hits + misses
    return JSON(
        CacheStats(
            available=shared is not UNAVAILABLE,
            cache_entries=entries,
            hits=hits,
            misses=misses,
            hit_rate=round(hits / looked, 4) if looked else None,
            memory_used=memory,
            ttl_hours=ttl_hours,
        )
    )


async def redis_stats(request: Request) -> Response:
    """GET /api/analytics/redis-stats: Redis's INFO and our counts; all null when it is down."""
    await require_admin(request)
    gateway = services(request).cache.gateway
    shared = await snapshot(gateway, time.time(), rate_limit_samples=RATE_LIMIT_SAMPLES)
    if shared is UNAVAILABLE:
        return JSON(RedisStats(available=False))
    return JSON(
        RedisStats(
            available=True,
            cache_entries=shared.cache_entries,
            rate_limit_entries=shared.rate_limit_entries,
            memory_used=shared.memory_used,
            connected_clients=shared.connected_clients,
            used_memory_peak=shared.used_memory_peak,
            evicted_keys=shared.evicted_keys,
            maxmemory_policy=shared.maxmemory_policy,
            uptime_s=shared.uptime_s,
            ops_per_sec=shared.ops_per_sec,
            keyspace_hits=shared.keyspace_hits,
            keyspace_misses=shared.keyspace_misses,
            warnings=eviction_warnings(shared.maxmemory_policy),
        )
    )


async def delete_cache(request: Request) -> Response:
    """DELETE /api/cache {url} or {text} (and the `options` it was asked with): forget the
    thread that input would be served, here
    and in Redis, so that the next generate is a miss. The input is checked exactly as
    POST /api/generate checks it, so it names the same entry."""
    await require_admin(request)
    running = services(request)
    settings = running.settings
    body = await read_body(request.scope, request.receive, settings.max_body_bytes)
    sent = decode_body(body, _decode_delete)
    source = validate(sent.url, sent.text, settings)
    removed = await running.cache.delete(key_for(source, parse_options(sent.options)))
    return JSON(CacheDeleted(success=True, removed=removed))
