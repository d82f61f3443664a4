"""The thread cache: msgpack-encoded entries in Redis with a TTL, or a bounded in-memory LRU.

This module owns everything about an entry: its key (storage/keys.py names the prefix), its
layout and version, encoding, its place in the index of entries (counted by the operator
endpoints), and the hit/miss count — whichever path read it — which the shared counters collect
from here once a second (storage/counters.py), so a hit pays one increment. With Redis
configured but unreachable, the in-memory LRU answers instead (the gateway's breaker decides),
so the service keeps serving; entries written then live only in this process.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import msgspec

from .errors import ServiceUnavailable
from .source import Source, SourceType
from .storage import indexed
from .storage.counters import Counters
from .storage.gateway import UNAVAILABLE, Gateway
from .storage.keys import CACHE_INDEX_KEY, CACHE_STATS_KEY, cache_key
from .writing.finalize import Tweet
from .writing.writer import Generator

CACHE_SCHEMA = 1


class CacheEntry(msgspec.Struct, array_like=True):
    """A cached thread. Stored as msgpack; `schema` guards against decoding an old layout.

    Evolution: new fields go at the end with a default; an incompatible change bumps both
    CACHE_SCHEMA and the key version in storage/keys.py instead of migrating stored data.
    """

    schema: int
    thread: list[Tweet]
    source_type: SourceType
    title: str | None
    generator: Generator
    created_at: float

    @classmethod
    def new(
        cls,
        thread: list[Tweet],
        source_type: SourceType,
        title: str | None,
        generator: Generator,
        created_at: float,
    ) -> CacheEntry:
        """An entry of the current layout."""
        return cls(CACHE_SCHEMA, thread, source_type, title, generator, created_at)


_encode = msgspec.msgpack.Encoder().encode
_decoder = msgspec.msgpack.Decoder(CacheEntry)


def key_for(source: Source) -> str:
    """The cache key of a validated input: its kind and the digest of its normalised value."""
    return cache_key(source.kind, source.digest)


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

    def delete(self, key: str) -> bool:  # ThreadCache.delete's memory half
        return self._items.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._items)


class ThreadCache:
    """Reads and writes cache entries through the gateway, or in memory when it cannot."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        ttl_seconds: int,
        memory_entries: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateway = gateway
        self.ttl_seconds = ttl_seconds
        self.memory = MemoryLRU(memory_entries)
        self._clock = clock  # epoch seconds: the index's scores are expiry times
        # Per process, for /metrics (issue #14: threadr_cache_requests_total); `harvest` hands
        # what is new in them to the shared counters.
        self.hits = 0
        self.misses = 0
        self._harvested = (0, 0)

    def harvest(self, counters: Counters) -> None:
        """Add the hits and misses counted since the last harvest to the shared counters."""
        hits, misses = self.hits, self.misses
        counters.add(CACHE_STATS_KEY, "hits", hits - self._harvested[0])
        counters.add(CACHE_STATS_KEY, "misses", misses - self._harvested[1])
        self._harvested = (hits, misses)

    def accept(self, raw: bytes | None) -> CacheEntry | None:
        """The entry in bytes someone else read from Redis (admission's limiter call), counted."""
        entry = decode_entry(raw)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self.gateway.get(key, "cache read")
        if raw is UNAVAILABLE:
            raw = self.memory.get(key)
        return self.accept(raw)

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: int | None = None) -> None:
        """Store an entry and index it; a Redis failure is logged and the entry kept in memory
        instead."""
        raw = encode_entry(entry)
        ttl = ttl_seconds or self.ttl_seconds
        now = self._clock()
        if not await indexed.put(self.gateway, CACHE_INDEX_KEY, key, raw, ttl, now, "cache write"):
            self.memory.set(key, raw, ttl)

    async def delete(self, key: str) -> bool:
        """Remove an entry from Redis, its index and this process's memory (DELETE /api/cache);
        whether there was one. Other processes' memory copies live out their TTL.

        Raises ServiceUnavailable when Redis is configured but cannot be reached: the entry
        would be served again once it is back."""
        removed = self.memory.delete(key)
        reply = await indexed.remove(self.gateway, CACHE_INDEX_KEY, key, "cache delete")
        if reply is UNAVAILABLE:
            if self.gateway.configured:
                raise ServiceUnavailable(
                    "Redis cannot be reached, so the cached entry could not be removed; "
                    "try again shortly.",
                    headers={"Retry-After": "5"},
                )
            return removed
        return reply or removed
