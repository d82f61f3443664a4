"""The thread cache: msgpack-encoded entries in Redis with a TTL, or a bounded in-memory LRU.

With Redis configured but unreachable, the in-memory LRU answers instead (behind a circuit
breaker), so the service keeps serving; entries written then live only in this process.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import cast

import msgspec
from redis.asyncio import Redis

from .breaker import UNAVAILABLE, CircuitBreaker
from .lane import Lane, pack
from .models import CacheEntry

log = logging.getLogger(__name__)

CACHE_SCHEMA = 1
_encode = msgspec.msgpack.Encoder().encode
_decoder = msgspec.msgpack.Decoder(CacheEntry)


def encode_entry(entry: CacheEntry) -> bytes:
    return _encode(entry)


def decode_entry(raw: bytes | None) -> CacheEntry | None:
    """Decode a stored entry; anything unreadable or of another schema counts as a miss."""
    if raw is None:
        return None
    try:
        entry = _decoder.decode(raw)
    except msgspec.DecodeError:
        return None
    return entry if entry.schema == CACHE_SCHEMA else None


class MemoryLRU:
    """A bounded LRU of encoded entries with per-entry expiry."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, raw = item
        if expires <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return raw

    def set(self, key: str, raw: bytes, ttl: float) -> None:
        self._items[key] = (self._clock() + ttl, raw)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def delete(self, key: str) -> bool:
        return self._items.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._items)


class ThreadCache:
    """Reads and writes cache entries; `redis=None` means memory only."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        ttl_seconds: int,
        memory_entries: int,
        breaker: CircuitBreaker | None = None,
        lane: Lane | None = None,
    ) -> None:
        self.redis = redis
        self.lane = lane  # reads on a cache hit's fast path (lane.py); writes use the pool
        self.ttl_seconds = ttl_seconds
        self.memory = MemoryLRU(memory_entries)
        self.breaker = breaker or CircuitBreaker()
        self.hits = 0
        self.misses = 0

    def record(self, entry: CacheEntry | None) -> CacheEntry | None:
        """Count a lookup's outcome (callers that fetched the raw bytes themselves use this)."""
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self.breaker.call(
            self.redis,
            lambda redis: redis.get(key),
            "cache read",
            lane=self.lane,
            on_lane=lambda lane: lane.execute(pack(b"GET", key.encode())),
        )
        if raw is UNAVAILABLE:
            raw = self.memory.get(key)
        return self.record(decode_entry(cast("bytes | None", raw)))  # no decode_responses

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: int | None = None) -> None:
        """Store an entry; a Redis failure is logged and the entry kept in memory instead."""
        raw = encode_entry(entry)
        ttl = ttl_seconds or self.ttl_seconds
        stored = await self.breaker.call(
            self.redis, lambda redis: redis.set(key, raw, ex=ttl), "cache write"
        )
        if stored is UNAVAILABLE:
            self.memory.set(key, raw, ttl)

    async def delete(self, key: str) -> bool:
        removed = self.memory.delete(key)
        deleted = await self.breaker.call(self.redis, lambda redis: redis.delete(key), "delete")
        return (deleted is not UNAVAILABLE and bool(deleted)) or removed
