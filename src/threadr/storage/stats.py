"""What the operator endpoints read from Redis, in one round trip and without walking the
keyspace: INFO (one call, its default sections), the cache index trimmed and counted, the shared
hit/miss counters, and optionally an estimate of the rate-limit keys (docs/api.md says why each
count is kept the way it is)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from .gateway import UNAVAILABLE, Gateway, Unavailable
from .keys import CACHE_INDEX_KEY, CACHE_STATS_KEY, RATE_LIMIT_PREFIX

if TYPE_CHECKING:
    from redis.asyncio import Redis

# RANDOMKEY samples behind `rate_limit_entries` (O(1) each): the estimate's standard error is
# at most sqrt(0.25 / 128) ≈ 4.4 % of the database's key count.
RATE_LIMIT_SAMPLES = 128
_RATE_LIMIT = RATE_LIMIT_PREFIX.encode()


class RedisSnapshot(msgspec.Struct, frozen=True):
    """Redis as the operator endpoints report it."""

    cache_entries: int
    hits: int
    misses: int
    rate_limit_entries: int | None
    memory_used: str | None
    used_memory_peak: str | None
    connected_clients: int | None
    evicted_keys: int | None
    maxmemory_policy: str | None
    uptime_s: int | None
    ops_per_sec: int | None
    keyspace_hits: int | None
    keyspace_misses: int | None


async def snapshot(
    gateway: Gateway, now: float, *, rate_limit_samples: int = 0
) -> RedisSnapshot | Unavailable:
    """Read everything in one pipeline; `now` (epoch seconds) trims expired index members.
    With `rate_limit_samples`, also estimate how many rate-limit keys there are."""

    async def read(redis: Redis) -> list[Any]:
        pipe = redis.pipeline(transaction=False)
        pipe.info()
        pipe.zremrangebyscore(CACHE_INDEX_KEY, "-inf", now)
        pipe.zcard(CACHE_INDEX_KEY)
        pipe.hmget(CACHE_STATS_KEY, ["hits", "misses"])
        if rate_limit_samples:
            pipe.dbsize()
            for _ in range(rate_limit_samples):
                pipe.randomkey()
        return await pipe.execute()

    reply = await gateway.call(read, "operator stats")
    if reply is UNAVAILABLE:
        return UNAVAILABLE
    info, _, entries, (hits, misses), *sampled = reply
    return from_info(
        info,
        cache_entries=entries,
        hits=int(hits or 0),
        misses=int(misses or 0),
        rate_limit_entries=_estimate(sampled[0], sampled[1:]) if sampled else None,
    )


def from_info(
    info: Mapping[str, Any],
    *,
    cache_entries: int,
    hits: int,
    misses: int,
    rate_limit_entries: int | None,
) -> RedisSnapshot:
    """A snapshot from INFO's parsed fields (redis-py's `info()`) and our own counts; a field a
    server does not report (a managed Redis may hide some) is None."""
    return RedisSnapshot(
        cache_entries=cache_entries,
        hits=hits,
        misses=misses,
        rate_limit_entries=rate_limit_entries,
        memory_used=_str(info, "used_memory_human"),
        used_memory_peak=_str(info, "used_memory_peak_human"),
        connected_clients=_int(info, "connected_clients"),
        evicted_keys=_int(info, "evicted_keys"),
        maxmemory_policy=_str(info, "maxmemory_policy"),
        uptime_s=_int(info, "uptime_in_seconds"),
        ops_per_sec=_int(info, "instantaneous_ops_per_sec"),
        keyspace_hits=_int(info, "keyspace_hits"),
        keyspace_misses=_int(info, "keyspace_misses"),
    )


def _estimate(dbsize: int, samples: list[bytes | None]) -> int:
    """The database's key count times the share of sampled keys that are rate-limit state."""
    drawn = [key for key in samples if key is not None]
    if not drawn:
        return 0
    share = sum(key.startswith(_RATE_LIMIT) for key in drawn) / len(drawn)
    return round(dbsize * share)


def _int(info: Mapping[str, Any], name: str) -> int | None:
    value = info.get(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _str(info: Mapping[str, Any], name: str) -> str | None:
    value = info.get(name)
    return None if value is None else str(value)
