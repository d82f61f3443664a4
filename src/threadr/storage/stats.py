"""What the operator endpoints read from Redis, in one round trip and without walking the
keyspace: INFO (one call, its default sections), the cache index trimmed and counted, the shared
hit/miss counters, and optionally an estimate of the rate-limit keys (docs/api.md says why each
count is kept the way it is). On Redis Cluster, INFO, DBSIZE and the samples go to every
primary, the primaries all at once (the samples one after another), and are added up."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import msgspec

from .gateway import UNAVAILABLE, Gateway, Unavailable
from .keys import CACHE_INDEX_KEY, CACHE_STATS_KEY, RATE_LIMIT_PREFIX

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

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

    async def read(redis: Redis) -> RedisSnapshot:
        pipe = redis.pipeline(transaction=False)
        pipe.info()
        pipe.zremrangebyscore(CACHE_INDEX_KEY, "-inf", now)
        pipe.zcard(CACHE_INDEX_KEY)
        pipe.hmget(CACHE_STATS_KEY, ["hits", "misses"])
        if rate_limit_samples:
            pipe.dbsize()
            for _ in range(rate_limit_samples):
                pipe.randomkey()
        info, _, entries, (hits, misses), *sampled = await pipe.execute()
        return from_info(
            info,
            cache_entries=entries,
            hits=int(hits or 0),
            misses=int(misses or 0),
            rate_limit_entries=_estimate(sampled[0], sampled[1:]) if sampled else None,
        )

    async def read_cluster(redis: Redis) -> RedisSnapshot:
        cluster = cast("RedisCluster", redis)
        await cluster.initialize()  # at once when the client knows the cluster already
        primaries = cluster.get_primaries()
        each = -(-rate_limit_samples // len(primaries)) if primaries else 0

        async def keyed() -> list[Any]:
            pipe = cluster.pipeline(transaction=False)
            pipe.zremrangebyscore(CACHE_INDEX_KEY, "-inf", now)
            pipe.zcard(CACHE_INDEX_KEY)
            pipe.hmget(CACHE_STATS_KEY, ["hits", "misses"])
            return await pipe.execute()

        # A cluster's pipeline refuses INFO, DBSIZE and RANDOMKEY: they are sent to each
        # primary apart (the samples one after another), the primaries all at once.
        async def primary(node: Any) -> tuple[dict[str, Any], int]:
            info = await cluster.info(target_nodes=node)
            if not each:
                return info, 0
            dbsize = await cluster.dbsize(target_nodes=node)
            drawn = [await cluster.randomkey(target_nodes=node) for _ in range(each)]
            return info, _estimate(dbsize, drawn)  # type: ignore[arg-type]

        (_, entries, (hits, misses)), *nodes = await asyncio.gather(
            keyed(), *(primary(node) for node in primaries)
        )
        return from_info(
            merge_info([info for info, _ in nodes]),
            cache_entries=entries,
            hits=int(hits or 0),
            misses=int(misses or 0),
            rate_limit_entries=sum(estimate for _, estimate in nodes) if each else None,
        )

    reply = await gateway.call(read_cluster if gateway.cluster else read, "operator stats")
    return UNAVAILABLE if reply is UNAVAILABLE else reply


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


# INFO fields a cluster's primaries add up to; of the others, the policies are listed and the
# uptime is the youngest primary's.
_SUMMED = (
    "used_memory",
    "used_memory_peak",
    "connected_clients",
    "evicted_keys",
    "instantaneous_ops_per_sec",
    "keyspace_hits",
    "keyspace_misses",
)


def merge_info(infos: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One INFO for a cluster's primaries: counts and bytes added up (memory as Redis shows it:
    the peaks' sum is at least the cluster's peak), `maxmemory_policy` each one found, the
    shortest uptime. A field no primary reports is left out."""
    merged: dict[str, Any] = {}
    for name in _SUMMED:
        values = [v for v in (_int(info, name) for info in infos) if v is not None]
        if values:
            merged[name] = sum(values)
    for name in ("used_memory", "used_memory_peak"):
        if name in merged:
            merged[f"{name}_human"] = human_bytes(merged[name])
    policies = sorted(
        {str(info["maxmemory_policy"]) for info in infos if "maxmemory_policy" in info}
    )
    if policies:
        merged["maxmemory_policy"] = ",".join(policies)
    uptimes = [v for v in (_int(info, "uptime_in_seconds") for info in infos) if v is not None]
    if uptimes:
        merged["uptime_in_seconds"] = min(uptimes)
    return merged


def human_bytes(n: int) -> str:
    """A byte count the way INFO's `*_human` fields write it: 1023B, 1.50K, 2.25M, 1.00G."""
    if n < 1024:
        return f"{n}B"
    size, unit = n / 1024, 0
    while size >= 1024 and unit < 3:
        size, unit = size / 1024, unit + 1
    return f"{size:.2f}{'KMGT'[unit]}"


# Policies that never evict a key without a TTL (accounts, premium, the email list), and among
# keys with one do not pick the limiter's and the quota's first (docs/deployment.md).
SAFE_EVICTION = frozenset({"noeviction", "volatile-lru", "volatile-lfu", "volatile-random"})


def eviction_warnings(policy: str | None) -> list[str]:
    """What `maxmemory-policy` may cost when Redis fills up, in words; empty when it evicts
    nothing that must stay (docs/deployment.md names the policies to pick). A cluster's
    primaries' policies come comma-separated (merge_info): each is judged."""
    if policy is None:
        return []
    return [w for one in policy.split(",") if (w := _eviction_warning(one)) is not None]


def _eviction_warning(policy: str) -> str | None:
    if policy in SAFE_EVICTION:
        return None
    if policy.startswith("allkeys-"):
        return (
            f"maxmemory-policy is {policy}: when Redis is full it may evict any key, including "
            "rate-limit and free-tier counters (a client's limits start over), sessions "
            "(users are signed out), accounts and premium records. Use noeviction or "
            "volatile-lru."
        )
    if policy == "volatile-ttl":
        return (
            "maxmemory-policy is volatile-ttl: when Redis is full it evicts the keys closest "
            "to expiry first, which are rate-limit and free-tier counters (a client's limits "
            "start over) before cache entries. Use noeviction or volatile-lru."
        )
    return (
        f"maxmemory-policy is {policy}, which this service does not know: make sure it never "
        "evicts keys without a TTL (accounts, premium records, the email list). Use "
        "noeviction or volatile-lru."
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
