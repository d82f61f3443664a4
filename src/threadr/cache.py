"""The thread cache: msgpack-encoded entries in Redis with a TTL, or a bounded in-memory LRU.

This module owns everything about an entry: its keys (storage/keys.py names the prefix), its
layout and version, encoding, its place in the index of entries (counted by the operator
endpoints), its copies under the other keys of the same article (aliases), and the hit/miss
count — whichever path read it — which the shared counters collect
from here once a second (storage/counters.py), so a hit pays one increment. With Redis
configured but unreachable, the in-memory LRU answers instead (the gateway's breaker decides),
so the service keeps serving; entries written then live only in this process.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .errors import ServiceUnavailable
from .source import Source, SourceType, digest
from .storage import indexed
from .storage.counters import Counters
from .storage.gateway import RETRY_AFTER_SECONDS, UNAVAILABLE, Gateway, Unavailable
from .storage.keys import CACHE_INDEX_KEY, CACHE_STATS_KEY, cache_key
from .writing.options import DEFAULT_OPTIONS, Options
from .writing.thread import Generator, ThreadWarning, Tweet

if TYPE_CHECKING:
    from redis.asyncio import Redis

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
    # Every key the thread was stored under when it was written (its request's, and for a page
    # its final URL's and its text digest's): DELETE /api/cache removes them all together.
    keys: tuple[str, ...] = ()
    # Claims of the thread the article does not back (writing/grounding.py). Each tweet carries
    # its own `source`; entries written before either existed decode with none.
    warnings: list[ThreadWarning] = []

    @classmethod
    def new(
        cls,
        thread: list[Tweet],
        source_type: SourceType,
        title: str | None,
        generator: Generator,
        created_at: float,
        keys: tuple[str, ...] = (),
        warnings: list[ThreadWarning] | None = None,
    ) -> CacheEntry:
        """An entry of the current layout."""
        return cls(
            CACHE_SCHEMA, thread, source_type, title, generator, created_at, keys, warnings or []
        )


_encode = msgspec.msgpack.Encoder().encode
_decoder = msgspec.msgpack.Decoder(CacheEntry)


def key_for(source: Source, options: Options = DEFAULT_OPTIONS) -> str:
    """The cache key of a validated input: its kind and the digest of its normalised value,
    and of the options when they are not the defaults."""
    return cache_key(source.kind, source.digest + _variant(options))


def url_key(url: str, options: Options = DEFAULT_OPTIONS) -> str:
    """The cache key of a URL already in its normal form (source.normalize_url): the key a
    request for that URL (with those options) reads."""
    return cache_key("url", digest(url) + _variant(options))


def article_key(text: str, options: Options = DEFAULT_OPTIONS) -> str:
    """The cache key of an article by its text as the writer gets it (extracted and cut to
    MAX_CONTENT_LENGTH): the same story under any URL, whatever the page names."""
    return cache_key("article", digest(text) + _variant(options))


def _variant(options: Options) -> str:
    """"" for the default options (so their keys are those from before options existed), else
    "~" and 16 hex digits of the digest of their normal form: equal options, equal keys."""
    part = options.cache_part()
    return f"~{digest(part)[:16]}" if part else ""


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

    def peek(self, key: str) -> tuple[bytes, float] | None:
        """The value and the seconds it has left, without touching its place in the LRU."""
        item = self._items.get(key)
        if item is None:
            return None
        left = item[0] - self._clock()
        return (item[1], left) if left > 0 else None

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

    async def set(
        self,
        key: str,
        entry: CacheEntry,
        ttl_seconds: int | None = None,
        *,
        copies: Sequence[str] = (),
    ) -> None:
        """Store an entry and index it, and a copy under each of `copies` (the article's other
        keys: not indexed, since they hold no other thread); a Redis failure is logged and the
        entry kept in memory instead."""
        raw = encode_entry(entry)
        ttl = ttl_seconds or self.ttl_seconds
        now = self._clock()
        if not await indexed.put(self.gateway, CACHE_INDEX_KEY, key, raw, ttl, now, "cache write"):
            for stored in (key, *copies):
                self.memory.set(stored, raw, ttl)
        elif copies:
            await self._copy(copies, raw, ttl * 1000)

    async def find(self, keys: Sequence[str]) -> tuple[CacheEntry, int] | None:
        """The first of `keys` that holds an entry, and the ms it has left. A look under the
        other keys of an article, not a request's read: counted neither as a hit nor a miss."""
        for raw, ms in await self._read(keys):
            entry = decode_entry(raw)
            if entry is not None and ms > 0:
                return entry, ms
        return None

    async def alias(self, key: str, entry: CacheEntry, ttl_ms: int) -> None:
        """Store `entry` under `key` too (another URL of its article), for the `ttl_ms` the
        entry it copies has left: no alias outlives its entry, and the next request for that
        URL is a plain hit."""
        await self._copy((key,), encode_entry(entry), ttl_ms)

    async def delete(self, key: str) -> bool:
        """Remove an entry from Redis, its index and this process's memory (DELETE /api/cache),
        and with it the other keys it was stored under when written (`CacheEntry.keys`), so the
        next request writes it anew instead of finding it again; whether there was one. Other
        processes' memory copies, and aliases stored later under other URLs, live out their TTL.

        Raises ServiceUnavailable when Redis is configured but cannot be reached: the entry
        would be served again once it is back."""
        stored = await self.gateway.get(key, "cache delete")
        entry = decode_entry(self.memory.get(key) if stored is UNAVAILABLE else stored)
        related = [k for k in entry.keys if k != key] if entry is not None else []
        removed = self.memory.delete(key)
        for other in related:
            self.memory.delete(other)
        reply = await indexed.remove(self.gateway, CACHE_INDEX_KEY, key, "cache delete")
        if reply is UNAVAILABLE:
            if self.gateway.configured:
                raise ServiceUnavailable(
                    "Redis cannot be reached, so the cached entry could not be removed; "
                    "try again shortly.",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            return removed
        for other in related:
            await indexed.remove(self.gateway, CACHE_INDEX_KEY, other, "cache delete")
        return reply or removed

    async def _read(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        """(value, ms left) of each key, from Redis, or from memory when it cannot answer."""
        reply = await self._each(keys, lambda pipe, key: (pipe.get(key), pipe.pttl(key)), "read")
        if reply is UNAVAILABLE:
            found = [self.memory.peek(key) for key in keys]
            return [(f[0], int(f[1] * 1000)) if f else (None, 0) for f in found]
        return list(zip(reply[::2], reply[1::2], strict=True))

    async def _copy(self, keys: Sequence[str], raw: bytes, ttl_ms: int) -> None:
        reply = await self._each(keys, lambda pipe, key: pipe.set(key, raw, px=ttl_ms), "write")
        if reply is UNAVAILABLE:
            for key in keys:
                self.memory.set(key, raw, ttl_ms / 1000)

    async def _each(
        self, keys: Sequence[str], add: Callable[[Any, str], object], what: str
    ) -> list[Any] | Unavailable:
        """The replies of `add(pipeline, key)`'s commands for every key, in order: one round
        trip, or on Redis Cluster one per key (each key on its own node and breaker)."""

        async def run(redis: Redis, keys: Sequence[str]) -> list[Any]:
            pipe = redis.pipeline(transaction=False)
            for key in keys:
                add(pipe, key)
            return await pipe.execute()

        what = f"cache alias {what}"
        if not keys:
            return []
        if not self.gateway.cluster:
            return await self.gateway.call(lambda r: run(r, keys), what)
        replies: list[Any] = []
        for key in keys:
            reply = await self.gateway.call(functools.partial(run, keys=(key,)), what, key=key)
            if reply is UNAVAILABLE:
                return UNAVAILABLE
            replies += reply
        return replies
