"""Operator endpoints on a real Redis: hits and misses counted across two instances, entry
counts from the index, DELETE making the next generate a miss, and no handler walking the
keyspace (every command the app sends is recorded at the connection)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection

from tests.factories import TEST_REDIS_URL, make_settings, running_app, until
from threadr.storage import keys

KEY = "operator-key-0123456789"
ADMIN = {"X-API-Key": KEY}
ONE = "Caching is the art of remembering answers, and serving them again quickly. " * 4
TWO = "Rate limits keep one client from spending everyone's share of a service. " * 4


def settings() -> Any:
    return make_settings(REDIS_URL=TEST_REDIS_URL, API_KEYS=KEY)


async def generate(client: httpx.AsyncClient, text: str) -> str:
    response = await client.post("/api/generate", json={"text": text})
    assert response.status_code == 200, response.text
    return response.headers["x-cache"]


async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/cache/stats", headers=ADMIN)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_hits_and_misses_are_counted_across_two_instances(redis: Redis) -> None:
    async with running_app(settings()) as a, running_app(settings()) as b:
        sequence = [(a, ONE), (a, ONE), (b, ONE), (b, TWO), (b, TWO), (a, TWO), (a, ONE)]
        seen = [await generate(client, text) for client, text in sequence]
        assert seen == ["MISS", "HIT", "HIT", "MISS", "HIT", "HIT", "HIT"]

        async def flushed() -> bool:  # polled in Redis: the admin calls are rate-limited
            return await redis.hmget(keys.CACHE_STATS_KEY, ["hits", "misses"]) == [b"5", b"2"]

        await until(flushed)  # both instances' counts, each flushed within a second
        seen_by = [await stats(b), await stats(a)]
        # The server's memory moves with whatever else uses it (other tests' databases): it
        # is Redis's own figure, in its own words, not one of our counts.
        for body in seen_by:
            assert re.fullmatch(r"[\d.]+[BKMG]", body.pop("memory_used"))
        assert (
            seen_by[0]
            == seen_by[1]
            == {
                "available": True,
                "cache_entries": 2,
                "hits": 5,
                "misses": 2,
                "hit_rate": 0.7143,
                "ttl_hours": 24.0,
            }
        )
        # An instance that stops flushes what it counted since its last flush.
        await generate(a, ONE)
    assert await redis.hmget(keys.CACHE_STATS_KEY, ["hits", "misses"]) == [b"6", b"2"]


async def test_redis_stats_reports_info_and_our_counts(redis: Redis) -> None:
    async with running_app(settings()) as client:
        await generate(client, ONE)
        await generate(client, TWO)
        response = await client.get("/api/analytics/redis-stats", headers=ADMIN)
    body = response.json()
    info = await redis.info()
    assert body["available"] is True
    assert body["cache_entries"] == 2
    assert body["maxmemory_policy"] == info["maxmemory_policy"]
    assert isinstance(body["memory_used"], str) and isinstance(body["used_memory_peak"], str)
    for field in ("connected_clients", "evicted_keys", "uptime_s", "ops_per_sec"):
        assert isinstance(body[field], int), field
    assert body["keyspace_hits"] <= info["keyspace_hits"]
    # An estimate (RANDOMKEY samples × DBSIZE): the limiter holds keys for the client and the
    # admin key, so some are there, and never more than the database holds.
    rate_limit_keys = len(await redis.keys(f"{keys.RATE_LIMIT_PREFIX}*"))  # the test may scan
    assert rate_limit_keys > 0
    assert 0 < body["rate_limit_entries"] <= await redis.dbsize()


async def test_delete_makes_the_next_generate_a_miss(redis: Redis) -> None:
    async with running_app(settings()) as client:
        assert await generate(client, ONE) == "MISS"
        assert await generate(client, ONE) == "HIT"
        assert (await stats(client))["cache_entries"] == 1
        response = await client.request("DELETE", "/api/cache", json={"text": ONE}, headers=ADMIN)
        assert response.json() == {"success": True, "removed": True}
        assert (await stats(client))["cache_entries"] == 0
        assert await redis.keys(f"{keys.CACHE_PREFIX}*") == []
        assert await generate(client, ONE) == "MISS"


async def test_expired_entries_leave_the_count(redis: Redis) -> None:
    async with running_app(settings()) as client:
        await generate(client, ONE)
        assert (await stats(client))["cache_entries"] == 1
        [member] = await redis.zrange(keys.CACHE_INDEX_KEY, 0, -1)
        assert isinstance(member, bytes)
        await redis.zadd(keys.CACHE_INDEX_KEY, {member: 1.0})  # as if it expired long ago
        await redis.delete(member)
        assert (await stats(client))["cache_entries"] == 0
    assert await redis.zcard(keys.CACHE_INDEX_KEY) == 0  # trimmed, not only skipped


class Recording(Connection):
    """A connection that notes the name of every command it packs, pipelined or not."""

    sent: ClassVar[list[str]] = []

    def pack_command(self, *args: Any) -> list[bytes]:
        Recording.sent.append(str(args[0]).upper())
        return super().pack_command(*args)

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        listed = [tuple(command) for command in commands]
        Recording.sent.extend(str(command[0]).upper() for command in listed)
        return super().pack_commands(listed)


async def test_no_operator_handler_walks_the_keyspace(redis: Redis) -> None:
    for n in range(50):  # something to walk, were anything to walk it
        await redis.set(f"{keys.CACHE_PREFIX}text:{n:064x}", b"x", ex=60)
    pool = ConnectionPool.from_url(TEST_REDIS_URL, connection_class=Recording)
    client = Redis.from_pool(pool)  # closes the pool with the client
    Recording.sent.clear()
    async with running_app(settings(), redis=client) as app:
        await generate(app, ONE)
        await generate(app, ONE)
        for path in ("/api/cache/stats", "/api/cache-stats", "/api/analytics/redis-stats"):
            assert (await app.get(path, headers=ADMIN)).status_code == 200
        deleted = await app.request("DELETE", "/api/cache", json={"text": ONE}, headers=ADMIN)
        assert deleted.status_code == 200
    await client.aclose()
    sent = set(Recording.sent)
    assert {"INFO", "ZCARD", "RANDOMKEY"} <= sent  # the recording saw the handlers' pipelines
    assert not sent & {"SCAN", "KEYS"}, sent
