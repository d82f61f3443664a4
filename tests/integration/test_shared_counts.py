"""Analytics and cache statistics shared by two real `threadr serve` processes on one Redis:
what each process counted, flushed once a second, adds up to exactly what the clients did."""

from __future__ import annotations

import time

import httpx
from redis.asyncio import Redis

from tests.factories import TEST_REDIS_URL, until
from threadr.analytics.counts import day_of
from threadr.storage.keys import analytics_day_key

from .processes import threadr_servers

KEY = "shared-counts-key-0123456789"
ADMIN = {"X-API-Key": KEY}
ONE = "Caching is the art of remembering answers, and serving them again quickly. " * 4
TWO = "Rate limits keep one client from spending everyone's share of a service. " * 4


async def test_two_processes_add_up_to_what_the_clients_did(redis: Redis) -> None:
    env = {"REDIS_URL": TEST_REDIS_URL, "API_KEYS": KEY, "ACCESS_LOG": "false"}
    with threadr_servers(2, env) as ports:
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        async with httpx.AsyncClient(timeout=10) as http:

            async def generate(base: str, text: str, client: str) -> str:
                # uvicorn believes X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS):
                # two clients, as the limiter and the analytics count them.
                response = await http.post(
                    f"{base}/api/generate", json={"text": text}, headers={"X-Forwarded-For": client}
                )
                assert response.status_code == 200, response.text
                return response.headers["x-cache"]

            assert await generate(a, ONE, "192.0.2.1") == "MISS"
            assert await generate(b, ONE, "192.0.2.2") == "HIT"
            assert await generate(b, TWO, "192.0.2.1") == "MISS"
            assert await generate(a, TWO, "192.0.2.2") == "HIT"
            assert await generate(a, ONE, "192.0.2.2") == "HIT"
            subscribed = await http.post(f"{b}/api/subscribe", json={"email": "ann@example.org"})
            assert subscribed.status_code == 200

            async def day() -> dict[str, object]:
                response = await http.get(f"{a}/api/usage/analytics?days=1", headers=ADMIN)
                assert response.status_code == 200
                body: dict[str, object] = response.json()["days"][0]
                return body

            async def added_up() -> bool:  # polled in Redis, not through the rate-limited API
                fields = await redis.hmget(
                    analytics_day_key(day_of(time.time())), "cache_hits", "cache_misses"
                )
                return fields == [b"3", b"2"]

            await until(added_up, within=10)  # each process flushes every second
            today = await day()
            assert today["generations"] == {"url": 0, "text": 2, "openai": 0, "offline": 2}
            assert today["unique_users"] == 2
            assert today["subscriptions"] == 1
            stats = (await http.get(f"{b}/api/cache/stats", headers=ADMIN)).json()
            assert (stats["hits"], stats["misses"], stats["cache_entries"]) == (3, 2, 2)
