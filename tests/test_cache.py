import fakeredis
import pytest
from redis.asyncio import Redis

from threadr import keys
from threadr.breaker import CircuitBreaker
from threadr.cache import CACHE_SCHEMA, MemoryLRU, ThreadCache, decode_entry, encode_entry
from threadr.models import CacheEntry, Tweet


def entry(text: str = "hello") -> CacheEntry:
    tweet = Tweet(number=1, total=1, content=f"1/1 {text}", character_count=4 + len(text))
    return CacheEntry(
        schema=CACHE_SCHEMA,
        thread=[tweet],
        source_type="text",
        title=None,
        generator="offline",
        created_at=1.0,
    )


def test_entries_round_trip_and_garbage_is_a_miss() -> None:
    e = entry()
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
    cache = ThreadCache(None, ttl_seconds=60, memory_entries=10)
    assert await cache.get("k") is None
    await cache.set("k", entry())
    assert await cache.get("k") == entry()
    assert (cache.hits, cache.misses) == (1, 1)
    assert await cache.delete("k")
    assert await cache.get("k") is None


async def test_redis_cache_sets_ttl_under_the_documented_prefix() -> None:
    redis = fakeredis.FakeAsyncRedis()
    cache = ThreadCache(redis, ttl_seconds=3600, memory_entries=10)
    key = keys.cache_key("text", "ab" * 32)
    await cache.set(key, entry())
    assert key.startswith("threadr:cache:v1:text:")
    assert 3590 < await redis.ttl(key) <= 3600
    assert await cache.get(key) == entry()
    assert len(cache.memory) == 0  # Redis took it; memory is only the fallback
    await redis.aclose()


async def test_redis_down_falls_back_to_memory_behind_a_breaker() -> None:
    # Nothing listens on port 1: every call fails at once with a connection error.
    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=None)
    breaker = CircuitBreaker(threshold=1, cooldown=60)
    cache = ThreadCache(redis, ttl_seconds=60, memory_entries=10, breaker=breaker)
    await cache.set("k", entry())
    assert breaker.is_open
    assert await cache.get("k") == entry()  # served from memory without trying Redis
    await redis.aclose()


@pytest.mark.integration
async def test_real_redis_round_trip(redis: Redis) -> None:
    cache = ThreadCache(redis, ttl_seconds=120, memory_entries=10)
    key = keys.cache_key("url", "cd" * 32)
    await cache.set(key, entry("real"))
    assert await redis.ttl(key) in range(110, 121)
    assert await cache.get(key) == entry("real")
    assert await cache.delete(key)
    assert await redis.exists(key) == 0
