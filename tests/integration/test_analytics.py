"""Usage analytics on a real Redis: a scripted sequence of requests over two app instances adds
up to exactly the expected day, unique users included (a HyperLogLog is exact for sets this
small); admin only; and no request walks the keyspace (commands recorded at the connection)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from redis.asyncio import ConnectionPool, Redis

from tests.factories import TEST_REDIS_URL, make_settings, running_services, until
from tests.integration.test_operator import Recording
from threadr.analytics.counts import day_of
from threadr.storage.keys import analytics_day_key

KEY = "analytics-key-0123456789"
ADMIN = {"X-API-Key": KEY}
ONE = "Caching is the art of remembering answers, and serving them again quickly. " * 4
TWO = "Rate limits keep one client from spending everyone's share of a service. " * 4
THREE = "Quotas count what a client may spend in a day, and say so when it is spent. " * 4
FOUR = "Analytics add up what every instance saw, one day at a time, in one place. " * 4


def settings() -> Any:
    return make_settings(
        REDIS_URL=TEST_REDIS_URL, API_KEYS=KEY, FREE_TIER_DAILY_LIMIT="2", RATE_LIMIT_BURST="4"
    )


@contextlib.asynccontextmanager
async def instance(**seams: Any) -> AsyncIterator[Any]:
    """An app instance, and a way to call it as a client of any address."""
    async with running_services(settings(), **seams) as (client, _):
        app = client._transport.app  # type: ignore[attr-defined]

        def as_client(host: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(host, 4321))
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        yield client, as_client


async def generate(client: httpx.AsyncClient, text: str) -> tuple[int, str]:
    response = await client.post("/api/generate", json={"text": text})
    return response.status_code, response.headers.get("x-cache", response.json().get("code"))


async def test_two_instances_add_up_to_the_expected_day(redis: Redis) -> None:
    pool = ConnectionPool.from_url(TEST_REDIS_URL, connection_class=Recording)
    recorded = Redis.from_pool(pool)
    Recording.sent.clear()
    async with instance(redis=recorded) as (admin_a, at_a), instance() as (admin_b, at_b):
        u1a, u1b, u2a, u2b = at_a("10.0.0.1"), at_b("10.0.0.1"), at_a("10.0.0.2"), at_b("10.0.0.2")
        u3, u4a, u4b = at_a("10.0.0.3"), at_a("10.0.0.4"), at_b("10.0.0.4")
        script = [
            (u1a, ONE, (200, "MISS")),
            (u1b, ONE, (200, "HIT")),
            (u2b, TWO, (200, "MISS")),
            (u2a, TWO, (200, "HIT")),
            (u1a, THREE, (200, "MISS")),
            (u1b, FOUR, (402, "quota_exceeded")),  # u1's third generation today: a miss too
            (u3, "   ", (422, "empty_text")),  # refused before anyone is counted as a user
            (u4a, ONE, (200, "HIT")),
            (u4b, ONE, (200, "HIT")),
            (u4a, ONE, (200, "HIT")),
            (u4b, ONE, (200, "HIT")),
            (u4a, ONE, (429, "rate_limited")),  # u4's fifth in a minute: RATE_LIMIT_BURST=4
        ]
        for client, text, expected in script:
            assert await generate(client, text) == expected, text
        for client, email in [(u1a, "Ann@Example.org"), (u2b, " ann@example.ORG "), (u3, "b@c.io")]:
            assert (await client.post("/api/subscribe", json={"email": email})).status_code == 200
        assert (await u1a.get("/api/usage/analytics")).status_code == 401
        wrong_key = await admin_b.get("/api/usage/analytics", headers={"X-API-Key": "z" * 24})
        assert wrong_key.status_code == 401

        today = day_of(time.time())
        expected_fields = {
            b"generations:text": b"3",
            b"writer:offline": b"3",
            b"cache_hits": b"6",
            b"cache_misses": b"4",
            b"error:quota_exceeded": b"1",
            b"error:empty_text": b"1",
            b"error:rate_limited": b"1",
            b"error:unauthorized": b"2",
            b"subscriptions": b"2",  # Ann once, however she is spelled
        }

        async def flushed() -> bool:  # polled in Redis: each instance flushes every second
            fields = await redis.hgetall(analytics_day_key(today))
            return {k: v for k, v in fields.items() if v != b"0"} == expected_fields

        await until(flushed)
        bodies = []
        for client in (admin_a, admin_b):
            response = await client.get("/api/usage/analytics?days=2", headers=ADMIN)
            assert response.status_code == 200
            bodies.append(response.json())
        assert bodies[0] == bodies[1]
        yesterday, day = bodies[0]["days"]
        assert day == {
            "date": today,
            "generations": {"url": 0, "text": 3, "openai": 0, "offline": 3},
            "cache_hits": 6,
            "cache_misses": 4,
            "offline_fallbacks": 0,
            "errors": {"empty_text": 1, "quota_exceeded": 1, "rate_limited": 1, "unauthorized": 2},
            "rate_limited": 1,
            "quota_exceeded": 1,
            "registrations": 0,
            "premium_grants": 0,
            "subscriptions": 2,
            "unique_users": 3,  # 10.0.0.1, .2 and .4 (.3 only sent what was refused)
        }
        assert yesterday["cache_hits"] == 0
        assert yesterday["unique_users"] == 0
        csv_body = await admin_a.get("/api/usage/analytics?days=1&format=csv", headers=ADMIN)
        assert csv_body.status_code == 200
        assert csv_body.text.splitlines()[1].startswith(f"{today},0,3,0,3,6,4,0,1,1,0,0,2,3,")
        for client in (u1a, u1b, u2a, u2b, u3, u4a, u4b):
            await client.aclose()
    await recorded.aclose()
    ttl = await redis.ttl(analytics_day_key(today))
    assert 89 * 86_400 < ttl <= 90 * 86_400  # ANALYTICS_RETENTION_DAYS after the last write
    sent = set(Recording.sent)
    assert {"HINCRBY", "PFADD", "EXPIRE", "HGETALL", "PFCOUNT"} <= sent, sent
    assert not sent & {"SCAN", "KEYS"}, sent
