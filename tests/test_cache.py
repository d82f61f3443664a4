"""The thread cache: entries, their keys and layout version, Redis with a TTL, the memory LRU."""

from __future__ import annotations

import fakeredis
import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.factories import Clock, make_gateway, make_settings
from threadr.cache import (
    CACHE_SCHEMA,
    CacheEntry,
    MemoryLRU,
    ThreadCache,
    decode_entry,
    encode_entry,
    key_for,
)
from threadr.source import validate
from threadr.storage.breaker import CircuitBreaker
from threadr.storage.counters import Counters
from threadr.storage.keys import CACHE_INDEX_KEY, CACHE_STATS_KEY
from threadr.writing.thread import Tweet


def entry(text: str = "hello") -> CacheEntry:
    tweet = Tweet(number=1, total=1, content=f"1/1 {text}", character_count=4 + len(text))
    return CacheEntry.new([tweet], "text", None, "offline", 1.0)


def test_entries_round_trip_and_garbage_is_a_miss() -> None:
    e = entry()
    assert e.schema == CACHE_SCHEMA
    assert decode_entry(encode_entry(e)) == e
    assert decode_entry(None) is None
    assert decode_entry(b"\x00garbage") is None
    old = CacheEntry(
        schema=CACHE_SCHEMA + 1,
        thread=[],
        source_type="text",
        title=None,
        generator="offline",
        created_at=0,
    )
    assert decode_entry(encode_entry(old)) is None


def test_memory_lru_expires_and_evicts() -> None:
    now = [0.0]
    lru = MemoryLRU(2, clock=lambda: now[0])
    lru.set("a", b"1", ttl=10)
    lru.set("b", b"2", ttl=10)
    assert lru.get("a") == b"1"  # a is now the most recent
    lru.set("c", b"3", ttl=10)
    assert lru.get("b") is None and lru.get("a") == b"1" and len(lru) == 2
    now[0] = 10.0
    assert lru.get("a") is None


async def test_memory_only_cache() -> None:
    cache = ThreadCache(make_gateway(None), ttl_seconds=60, memory_entries=10)
    assert await cache.get("k") is None
    await cache.set("k", entry())
    assert await cache.get("k") == entry()
    assert (cache.hits, cache.misses) == (1, 1)
    assert await cache.delete("k")
    assert await cache.get("k") is None


async def test_redis_cache_sets_ttl_under_the_documented_prefix() -> None:
    redis = fakeredis.FakeAsyncRedis()
    cache = ThreadCache(make_gateway(redis), ttl_seconds=3600, memory_entries=10)
    key = key_for(validate(None, "Some text.", make_settings()))
    await cache.set(key, entry())
    assert key.startswith("threadr:cache:v1:text:") and len(key) == 22 + 64
    assert 3590 < await redis.ttl(key) <= 3600
    assert await cache.get(key) == entry()
    assert len(cache.memory) == 0  # Redis took it; memory is only the fallback
    await redis.aclose()


async def test_redis_down_falls_back_to_memory_behind_a_breaker() -> None:
    # Nothing listens on port 1: every call fails at once with a connection error.
    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    breaker = CircuitBreaker()
    cache = ThreadCache(make_gateway(redis, breaker=breaker), ttl_seconds=60, memory_entries=10)
    await cache.set("k", entry())
    assert breaker.is_open
    assert await cache.get("k") == entry()  # served from memory without trying Redis
    await redis.aclose()


def test_equal_inputs_share_a_key_and_kinds_never_do() -> None:
    settings = make_settings()
    shared = key_for(validate("https://Example.com/a?utm_source=x", None, settings))
    assert shared == key_for(validate("https://example.com/a#top", None, settings))
    assert shared != key_for(validate(None, "https://example.com/a", settings))


async def test_entries_are_indexed_by_expiry_and_the_expired_trimmed_on_write() -> None:
    redis = fakeredis.FakeAsyncRedis()
    clock = Clock(1_700_000_000.0)
    gateway = make_gateway(redis)
    cache = ThreadCache(gateway, ttl_seconds=60, memory_entries=10, clock=clock)
    await cache.set("threadr:cache:v1:text:a", entry())
    clock.advance(30)
    await cache.set("threadr:cache:v1:text:b", entry(), ttl_seconds=600)
    assert await redis.zrange(CACHE_INDEX_KEY, 0, -1, withscores=True) == [
        (b"threadr:cache:v1:text:a", 1_700_000_060.0),
        (b"threadr:cache:v1:text:b", 1_700_000_630.0),
    ]
    clock.advance(31)  # a's TTL is over: the next write trims it (the stats call does too)
    await cache.set("threadr:cache:v1:text:c", entry())
    members = await redis.zrange(CACHE_INDEX_KEY, 0, -1)
    assert members == [b"threadr:cache:v1:text:c", b"threadr:cache:v1:text:b"]
    assert await cache.delete("threadr:cache:v1:text:b")
    assert await redis.zrange(CACHE_INDEX_KEY, 0, -1) == [b"threadr:cache:v1:text:c"]
    await redis.aclose()


async def test_hits_and_misses_are_harvested_as_deltas() -> None:
    cache = ThreadCache(make_gateway(None), ttl_seconds=60, memory_entries=10)
    counters = Counters(make_gateway(None))
    cache.accept(None)
    cache.accept(encode_entry(entry()))
    cache.accept(encode_entry(entry()))
    cache.harvest(counters)
    assert counters.pending == {(CACHE_STATS_KEY, "hits"): 2, (CACHE_STATS_KEY, "misses"): 1}
    cache.accept(None)
    cache.harvest(counters)
    assert counters.pending == {(CACHE_STATS_KEY, "hits"): 2, (CACHE_STATS_KEY, "misses"): 2}


@pytest.mark.parametrize("cluster", [False, True])
async def test_entries_are_found_under_other_keys_and_aliased_for_the_time_they_have_left(
    cluster: bool,
) -> None:
    redis = fakeredis.FakeAsyncRedis()
    gateway = make_gateway(redis)
    gateway.cluster = cluster  # on a cluster: one call per key, each on its own node
    cache = ThreadCache(gateway, ttl_seconds=3600, memory_entries=10)
    stored = CacheEntry.new([], "url", "T", "offline", 1.0, ("home", "canonical", "digest"))
    await cache.set("home", stored, 300, copies=("canonical", "digest"))
    assert await redis.zrange(CACHE_INDEX_KEY, 0, -1) == [b"home"]  # one thread, one entry
    found = await cache.find(["nothing", "canonical"])
    assert found is not None and found[0] == stored
    # The time it has left, read along (a millisecond may pass before this test asks again).
    assert 0 <= found[1] - await redis.pttl("canonical") <= 50
    await cache.alias("alias", stored, 120_000)
    assert 0 < await redis.pttl("alias") <= 120_000
    assert (cache.hits, cache.misses) == (0, 0)  # lookups by alias are no request's read
    assert await cache.delete("alias")  # and take the article's keys with them
    assert await redis.keys() == []
    await redis.aclose()


async def test_aliases_live_in_memory_while_redis_is_away() -> None:
    cache = ThreadCache(make_gateway(None), ttl_seconds=60, memory_entries=10)
    stored = entry()
    await cache.set("home", stored, copies=("digest",))
    found = await cache.find(["digest"])
    assert found is not None and found[0] == stored and 0 < found[1] <= 60_000
    await cache.alias("alias", stored, 5_000)
    assert await cache.get("alias") == stored
    assert await cache.find(["elsewhere"]) is None
