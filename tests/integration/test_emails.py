"""Email capture on a real Redis: one record for 50 concurrent subscriptions of one address,
no SCAN or KEYS from any handler (INFO commandstats of a redis-server of the test's own counts
commands run inside scripts too),
and a redis-server stopped and started again under the app: 503 + Retry-After while it is
gone, nothing lost and subscriptions working once it is back."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.factories import TEST_REDIS_URL, make_settings, running_app, until
from tests.integration.processes import RedisServer, free_port
from threadr.storage.keys import SUBSCRIBER_INDEX, SUBSCRIBER_RECORDS

KEY = "k" * 24
ADMIN = {"X-API-Key": KEY}
SPELLINGS = ["Ann@Example.com", "  ann@example.com", "ANN@EXAMPLE.COM\n", "\tann@exAmple.com. "]
SCANNING = ("scan", "keys", "hscan", "zscan", "sscan")


async def test_fifty_concurrent_subscriptions_of_one_address_store_one(redis: Redis) -> None:
    settings = make_settings(
        REDIS_URL=TEST_REDIS_URL, RATE_LIMIT_BURST="100", RATE_LIMIT_REQUESTS="100"
    )
    async with running_app(settings) as client:
        answers = await asyncio.gather(
            *(
                client.post("/api/subscribe", json={"email": SPELLINGS[i % len(SPELLINGS)]})
                for i in range(50)
            )
        )
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1  # 50 identical answers
    assert await redis.hkeys(SUBSCRIBER_RECORDS) == [b"ann@example.com"]
    assert await redis.zcard(SUBSCRIBER_INDEX) == 1


async def _scans(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in SCANNING}


async def test_no_handler_issues_scan_or_keys(tmp_path: Path) -> None:
    # A redis-server of its own: INFO commandstats counts every client's commands (and those
    # run inside scripts), so on a shared server anyone's KEYS would fail this test.
    if not shutil.which("redis-server"):
        pytest.skip("needs the redis-server command")
    server = RedisServer(free_port(), tmp_path)
    url = f"redis://127.0.0.1:{server.port}/0"
    settings = make_settings(REDIS_URL=url, API_KEYS=KEY, RATE_LIMIT_ENABLED="false")
    await server.start()
    redis = Redis.from_url(url)
    try:
        async with running_app(settings) as client:
            before = await _scans(redis)
            for i in range(30):
                source = ["footer", "blog", "popup"][i % 3]
                body = {"email": f"user{i}@example.com", "source": source}
                assert (await client.post("/api/subscribe", json=body)).status_code == 200
            stats = await client.get("/api/emails/stats", headers=ADMIN)
            removed = await client.request(
                "DELETE", "/api/emails", json={"email": "USER0@example.com"}, headers=ADMIN
            )
            export = await client.get("/api/emails/export", headers=ADMIN)
            after = await _scans(redis)
    finally:
        await redis.aclose()
        await server.stop()
    assert stats.json() == {
        "total_subscriptions": 30,
        "last_7_days": 30,
        "by_source": {"footer": 10, "blog": 10, "popup": 10},
    }
    assert removed.json() == {"success": True, "removed": True}
    rows = list(csv.reader(io.StringIO(export.text)))
    assert len(rows) == 1 + 29 and ["user0@example.com"] not in [r[:1] for r in rows]
    assert after == before, f"SCAN/KEYS were sent: {before} → {after}"


async def test_redis_gone_is_a_503_and_nothing_is_lost_when_it_returns(tmp_path: Path) -> None:
    if not shutil.which("redis-server"):
        pytest.skip("needs the redis-server command")
    server = RedisServer(free_port(), tmp_path)
    settings = make_settings(
        REDIS_URL=f"redis://127.0.0.1:{server.port}/0",
        API_KEYS=KEY,
        REDIS_TIMEOUT_SECONDS="0.5",
    )
    await server.start()
    try:
        async with running_app(settings) as client:
            before = await client.post("/api/subscribe", json={"email": "ann@example.com"})
            assert before.status_code == 200

            await server.stop()
            for _ in range(3):  # the first calls fail, then the circuit breaker answers at once
                during = await client.post("/api/subscribe", json={"email": "bob@example.com"})
                assert during.status_code == 503
                assert during.json()["code"] == "storage_unavailable"
                assert int(during.headers["retry-after"]) >= 1

            await server.start()

            async def subscribed() -> bool:
                again = await client.post("/api/subscribe", json={"email": "Bob@example.com"})
                return again.status_code == 200

            await until(subscribed, within=15)  # once the breaker lets a probe through
            stats = await client.get("/api/emails/stats", headers=ADMIN)
            export = await client.get("/api/emails/export", headers=ADMIN)
    finally:
        await server.stop()
    # ann, stored before the outage, survived it; bob came in once Redis was back.
    assert stats.json()["total_subscriptions"] == 2
    assert [r[0] for r in csv.reader(io.StringIO(export.text))][1:] == [
        "ann@example.com",
        "bob@example.com",
    ]
