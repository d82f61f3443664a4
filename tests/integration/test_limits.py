"""Rate limits and the free-tier quota as clients see them, on a real Redis."""

import asyncio
import collections
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Connection, ConnectionPool, Redis

from tests.factories import TEST_REDIS_URL, make_settings, running_app

from .processes import threadr_servers

TEXT = "Rate limits protect a service. Quotas share it fairly between users. " * 4
_RATELIMIT = re.compile(r'^"(burst|hourly)";r=(\d+);t=(\d+)$')


def texts(n: int) -> list[str]:
    return [f"Article number {i}. " + TEXT for i in range(n)]


def check_429(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    policy = response.headers["ratelimit-policy"]
    assert '"burst";q=30;w=60' in policy and '"hourly";q=1000;w=3600' in policy
    match = _RATELIMIT.match(response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    name, remaining, t = match.group(1), int(match.group(2)), int(match.group(3))
    assert (name, remaining) == ("burst", 0)
    assert int(response.headers["retry-after"]) >= max(t, 1)


@pytest.fixture
def three_servers() -> Iterator[list[int]]:
    env = {
        "REDIS_URL": TEST_REDIS_URL,
        "RATE_LIMIT_BURST": "30",
        "RATE_LIMIT_REQUESTS": "1000",
        "ACCESS_LOG": "false",
    }
    with threadr_servers(3, env) as ports:
        yield ports


async def test_three_processes_share_one_exact_limit(
    redis: Redis, three_servers: list[int]
) -> None:
    limits = httpx.Limits(max_connections=300)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"http://127.0.0.1:{three_servers[i % 3]}/api/generate", json={"text": TEXT}
                )
                for i in range(200)
            )
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 30, collections.Counter(statuses)
    assert statuses.count(429) == 170
    for response in responses:
        assert "ratelimit" in response.headers and "ratelimit-policy" in response.headers
        if response.status_code == 429:
            check_429(response)


async def test_quota_race_admits_exactly_what_is_left(redis: Redis) -> None:
    settings = make_settings(
        REDIS_URL=TEST_REDIS_URL,
        RATE_LIMIT_BURST="1000",
        RATE_LIMIT_REQUESTS="1000",
        FREE_TIER_DAILY_LIMIT="5",
    )
    async with running_app(settings) as client:
        responses = await asyncio.gather(
            *(client.post("/api/generate", json={"text": t}) for t in texts(50))
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 5 and statuses.count(402) == 45
        refused = next(r for r in responses if r.status_code == 402)
        body = refused.json()
        assert body["code"] == "quota_exceeded" and body["detail"].endswith(".")
        assert body["usage"]["daily_remaining"] == 0 and body["usage"]["daily_limit"] == 5
        assert "ratelimit" in refused.headers  # it went through the limiter

        done = next(t for t, r in zip(texts(50), responses, strict=True) if r.status_code == 200)
        again = await client.post("/api/generate", json={"text": done})
        assert again.status_code == 200 and again.headers["x-cache"] == "HIT"
        usage = (await client.get("/api/usage/status")).json()
    assert usage["daily_usage"] == 5 and usage["daily_remaining"] == 0
    assert usage["has_premium"] is False and usage["free_tier_enabled"] is True


async def test_a_failed_generation_is_refunded(redis: Redis) -> None:
    settings = make_settings(
        REDIS_URL=TEST_REDIS_URL, FETCH_ALLOW_PRIVATE_NETWORKS="true", FETCH_TIMEOUT_SECONDS="2"
    )
    async with running_app(settings) as client:
        # Nothing listens on port 1: the fetch fails with a 502 after the quota was reserved.
        failed = await client.post("/api/generate", json={"url": "http://127.0.0.1:1/a"})
        usage = (await client.get("/api/usage/status")).json()
    assert failed.status_code == 502
    assert "ratelimit" in failed.headers
    assert usage["daily_usage"] == 0


async def test_script_flush_mid_run_reaches_no_client(redis: Redis) -> None:
    settings = make_settings(
        REDIS_URL=TEST_REDIS_URL, RATE_LIMIT_BURST="1000", RATE_LIMIT_REQUESTS="1000"
    )
    async with running_app(settings) as client:
        await client.post("/api/generate", json={"text": TEXT})

        async def flusher() -> None:
            for _ in range(10):
                await redis.script_flush()
                await asyncio.sleep(0)

        flushing = asyncio.create_task(flusher())
        responses = await asyncio.gather(
            *(client.post("/api/generate", json={"text": TEXT}) for _ in range(60))
        )
        await flushing
    assert {r.status_code for r in responses} == {200}
    assert all(r.headers["x-cache"] == "HIT" for r in responses)


async def test_status_endpoints_peek_without_consuming(redis: Redis) -> None:
    settings = make_settings(REDIS_URL=TEST_REDIS_URL, RATE_LIMIT_REQUESTS="40")
    async with running_app(settings) as client:
        await client.post("/api/generate", json={"text": TEXT})
        first = (await client.get("/api/rate-limit-status")).json()
        second = (await client.get("/api/rate-limit-status")).json()
    assert first == second
    assert first["total_limit"] == 40 and first["requests_used"] == 1
    assert first["requests_remaining"] == 39 and first["window_hours"] == 1.0
    assert first["using_redis"] is True
    assert 0 < first["reset_in_seconds"] <= 3600
    assert first["minutes_until_reset"] == -(-first["reset_in_seconds"] // 60)
    names = [p["name"] for p in first["policies"]]
    assert names == ["burst", "hourly"]
    assert first["policies"][0] == {
        "name": "burst",
        "limit": 10,
        "window_seconds": 60,
        "remaining": 9,
        "reset_in_seconds": 6,
    }


async def test_malformed_bodies_are_rejected_before_the_limiter(redis: Redis) -> None:
    settings = make_settings(REDIS_URL=TEST_REDIS_URL, RATE_LIMIT_BURST="1")
    async with running_app(settings) as client:
        bad = [
            await client.post(
                "/api/generate", content=b"{", headers={"content-type": "application/json"}
            )
            for _ in range(3)
        ]
        ok = await client.post("/api/generate", json={"text": TEXT})
        limited = await client.post("/api/generate", json={"text": TEXT})
    assert all(r.status_code == 400 and "ratelimit" not in r.headers for r in bad)
    assert ok.status_code == 200 and ok.headers["ratelimit"] == '"burst";r=0;t=60'
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 60


async def test_an_anonymous_cache_hit_is_one_redis_round_trip(redis: Redis) -> None:
    writes = 0

    class CountingConnection(Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            nonlocal writes
            writes += 1  # one write per round trip
            await super().send_packed_command(command, check_health)

    counted = Redis.from_pool(
        ConnectionPool.from_url(TEST_REDIS_URL, connection_class=CountingConnection)
    )
    try:
        async with running_app(make_settings(), redis=counted) as client:
            await client.post("/api/generate", json={"text": TEXT})  # the miss that fills it
            writes = 0
            hit = await client.post("/api/generate", json={"text": TEXT})
            assert hit.headers["x-cache"] == "HIT"
            assert writes == 1
    finally:
        await counted.aclose()


async def test_a_burst_larger_than_the_pool_waits_instead_of_degrading(redis: Redis) -> None:
    settings = make_settings(REDIS_URL=TEST_REDIS_URL, REDIS_MAX_CONNECTIONS="2")
    async with running_app(settings) as client:
        await client.post("/api/generate", json={"text": TEXT})  # fill the cache: all hits now
        responses = await asyncio.gather(
            *(client.post("/api/generate", json={"text": TEXT}) for _ in range(40))
        )
    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {200: 9, 429: 31}  # exact: the burst of 10 minus the filling request


async def test_a_burst_of_readiness_probes_takes_one_connection(redis: Redis) -> None:
    """Concurrent /readiness probes share one PING: they can never empty the pool that the
    limiter's status path needs, nor open the circuit breaker."""
    settings = make_settings(REDIS_URL=TEST_REDIS_URL, REDIS_MAX_CONNECTIONS="8")  # pool: 2 + 4
    async with running_app(settings) as client:
        responses = await asyncio.gather(
            *(client.get("/readiness") for _ in range(60)),
            *(client.get("/api/rate-limit-status") for _ in range(20)),
        )
    assert {r.status_code for r in responses} == {200}
    assert all(r.json()["using_redis"] for r in responses[60:])
