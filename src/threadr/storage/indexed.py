"""Values with a TTL, listed in an index: a sorted set of their keys scored by expiry (epoch
seconds), so they can be counted without walking the keyspace — trim what expired, then ZCARD.

Each call is one round trip but not a transaction: the index is one key and the values are
spread over hash slots. On Redis Cluster they are two calls, the value's and the index's, each
on its own node: the value is written (or removed) whenever its node answers, and a failed
index update only leaves the count off. A value evicted early under `maxmemory` stays counted
until its expiry; a value whose SET failed after a ZADD is the same case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .gateway import UNAVAILABLE, Gateway, Unavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis


async def put(
    gateway: Gateway, index: str, key: str, value: bytes, ttl: int, now: float, what: str
) -> bool:
    """SET `key` for `ttl` seconds and index it; False when Redis could not be reached.
    Trimming the index here too keeps it as small as the live values even when nobody counts
    them (each member is trimmed once: O(log N) a write, amortised)."""
    if gateway.cluster:
        done = await gateway.call(lambda r: r.set(key, value, ex=ttl), what, key=key)
        if done is UNAVAILABLE:
            return False

        async def note(redis: Redis) -> Any:
            pipe = redis.pipeline(transaction=False)
            pipe.zadd(index, {key: now + ttl})
            pipe.zremrangebyscore(index, "-inf", now)
            return await pipe.execute()

        await gateway.call(note, what, key=index)
        return True

    async def write(redis: Redis) -> Any:
        pipe = redis.pipeline(transaction=False)
        pipe.set(key, value, ex=ttl)
        pipe.zadd(index, {key: now + ttl})
        pipe.zremrangebyscore(index, "-inf", now)
        return await pipe.execute()

    return await gateway.call(write, what) is not UNAVAILABLE


async def remove(gateway: Gateway, index: str, key: str, what: str) -> bool | Unavailable:
    """DEL `key` and drop it from the index: whether the value was there."""
    if gateway.cluster:
        removed = await gateway.call(lambda r: r.delete(key), what, key=key)
        if removed is UNAVAILABLE:
            return UNAVAILABLE
        await gateway.call(lambda r: r.zrem(index, key), what, key=index)
        return bool(removed)

    async def drop(redis: Redis) -> Any:
        pipe = redis.pipeline(transaction=False)
        pipe.delete(key)
        pipe.zrem(index, key)
        return await pipe.execute()

    reply = await gateway.call(drop, what)
    return UNAVAILABLE if reply is UNAVAILABLE else bool(reply[0])
