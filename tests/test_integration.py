"""The foundation against a real Redis: documented keys, TTLs, sharing between instances."""

import asyncio
from typing import Any

import httpx2
import pytest
from redis.asyncio import Redis

from threadr.normalize import digest, normalize_text

from .conftest import TEST_REDIS_URL, MockOpenAI, chat_completion, make_settings, running_app

pytestmark = pytest.mark.integration

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
    async with running_app(settings, openai_client=mock.client()) as client:
        calls = [
            asyncio.create_task(client.post("/api/generate", json={"text": TEXT}))
            for _ in range(20)
        ]
        await called.wait()
        await asyncio.sleep(0.2)  # let the other 19 finish their cache reads and join
        gate.set()
        responses = await asyncio.gather(*calls)
    assert mock.calls == 1
    assert {r.status_code for r in responses} == {200}
    assert len({r.text.replace("true", "false") for r in responses}) == 1
