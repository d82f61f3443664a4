"""The cache on a real Redis: documented keys and TTLs, sharing between instances, coalescing."""

import asyncio
from typing import Any

import httpx2
from redis.asyncio import Redis

from tests.factories import (
    TEST_REDIS_URL,
    MockOpenAI,
    chat_completion,
    make_gateway,
    make_settings,
    running_app,
    running_services,
)
from threadr.cache import CacheEntry, ThreadCache
from threadr.generate import Account
from threadr.source import Source, digest, normalize_text
from threadr.storage import keys
from threadr.writing.thread import Tweet

ENTRY = CacheEntry.new([Tweet(1, 1, "1/1 Real.", 9)], "url", None, "offline", 0.0)
TEXT = "Sliding windows beat fixed windows. They smooth bursts at the boundary. " * 6


async def test_entry_lives_under_the_documented_key_with_ttl(redis: Redis) -> None:
    settings = make_settings(REDIS_URL=TEST_REDIS_URL, CACHE_TTL_HOURS="2")
    async with running_app(settings) as client:
        response = await client.post("/api/generate", json={"text": TEXT})
        assert response.status_code == 200
        assert (await client.get("/health")).json()["services"]["redis"] == "connected"
    key = f"threadr:cache:v1:text:{digest(normalize_text(TEXT))}"
    assert await redis.exists(key)
    assert 7190 <= await redis.ttl(key) <= 7200
    assert await redis.keys("threadr:cache:v1:*") == [key.encode()]


async def test_a_second_instance_serves_the_first_ones_entry(redis: Redis) -> None:
    settings = make_settings(REDIS_URL=TEST_REDIS_URL)
    async with running_app(settings) as one:
        made = (await one.post("/api/generate", json={"text": TEXT})).json()
    async with running_app(settings) as two:
        response = await two.post("/api/generate", json={"text": TEXT})
    assert response.headers["x-cache"] == "HIT"
    assert response.json()["thread"] == made["thread"]
    assert response.json()["cached"] is True


async def test_concurrent_identical_misses_call_openai_once(redis: Redis) -> None:
    gate = asyncio.Event()
    called = asyncio.Event()

    async def slow(_: httpx2.Request) -> Any:
        called.set()
        await gate.wait()
        return 200, chat_completion('{"tweets": ["One.", "Two."]}')

    mock = MockOpenAI(slow)
    # One client sends all 20: limits off, this test is about coalescing.
    settings = make_settings(
        REDIS_URL=TEST_REDIS_URL, RATE_LIMIT_ENABLED="false", FREE_TIER_ENABLED="false"
    )
    async with running_services(settings, openai_client=mock.client()) as (client, services):
        generate, entered, all_in = services.pipeline.generate, 0, asyncio.Event()

        async def counted(
            source: Source, account: Account | None = None, *args: Any, **kw: Any
        ) -> CacheEntry:
            nonlocal entered
            entered += 1
            if entered == 20:
                all_in.set()
            return await generate(source, account, *args, **kw)

        services.pipeline.generate = counted  # type: ignore[method-assign]
        calls = [
            asyncio.create_task(client.post("/api/generate", json={"text": TEXT}))
            for _ in range(20)
        ]
        await called.wait()
        await all_in.wait()  # every request missed the cache and is in the pipeline
        gate.set()
        responses = await asyncio.gather(*calls)
    assert mock.calls == 1
    assert [r.headers["x-cache"] for r in responses] == ["MISS"] * 20  # all joined the one
    assert len({r.text for r in responses}) == 1


async def test_real_redis_round_trip(redis: Redis) -> None:
    cache = ThreadCache(make_gateway(redis), ttl_seconds=120, memory_entries=10)
    key = keys.cache_key("url", "cd" * 32)
    await cache.set(key, ENTRY)
    assert await redis.ttl(key) in range(110, 121)
    assert await cache.get(key) == ENTRY
    assert await cache.delete(key)
    assert await redis.exists(key) == 0
