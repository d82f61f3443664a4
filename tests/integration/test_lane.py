"""The lane, the cache-hit path's own Redis connections, and the gateway's choice between lane
and pool, against a real Redis."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.factories import TEST_REDIS_URL, limit_settings, make_gateway, until
from threadr.cache import CacheEntry, ThreadCache
from threadr.limits.ratelimit import Limiter
from threadr.storage.breaker import CircuitBreaker
from threadr.storage.gateway import UNAVAILABLE
from threadr.storage.lane import Lane, command
from threadr.writing.thread import Tweet

from .processes import free_port

NAME = b"threadr-lane-test"


@pytest.fixture
async def client(redis: Redis) -> AsyncIterator[Redis]:
    """A client whose connections carry a name of their own, to find them in CLIENT LIST."""
    named = Redis.from_url(TEST_REDIS_URL, client_name=NAME.decode())
    yield named
    await named.aclose()


async def blocked_clients(redis: Redis, n: int) -> bool:
    blocked: int = (await redis.info("clients"))["blocked_clients"]
    return blocked == n


async def lane_connections(redis: Redis) -> int:
    return sum(1 for c in await redis.client_list() if c["name"] == NAME.decode())


async def test_replies_and_error_replies(redis: Redis, client: Redis) -> None:
    lane = Lane(client, 1)
    try:
        assert await lane.execute(command(b"SET", b"k", b"v")) == b"OK"
        assert await lane.execute(command(b"GET", b"k")) == b"v"
        with pytest.raises(ResponseError, match="not an integer"):
            await lane.execute(command(b"INCR", b"k"))
        # An error reply is a whole reply: the connection goes on, in step.
        assert await lane.execute(command(b"GET", b"k")) == b"v"
        assert await lane_connections(redis) == 1
    finally:
        await lane.aclose()
    assert await lane_connections(redis) == 0


async def test_a_cancelled_command_never_leaves_a_reply_behind(redis: Redis, client: Redis) -> None:
    lane = Lane(client, 1)
    try:
        blocked = asyncio.create_task(lane.execute(command(b"BLPOP", b"queue", b"2")))
        await until(lambda: blocked_clients(redis, 1))  # Redis holds the BLPOP
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        await redis.rpush("queue", "job")
        # Had the cancelled connection been reused, BLPOP's reply would answer this PING.
        assert await lane.execute(command(b"PING")) == b"PONG"
        assert await redis.llen("queue") == 1  # the closed connection's BLPOP took nothing
    finally:
        await lane.aclose()


async def test_a_connection_closed_while_idle_is_replaced_transparently(
    redis: Redis, client: Redis
) -> None:
    lane = Lane(client, 1)
    try:
        first = await lane.execute(command(b"CLIENT", b"ID"))
        assert await redis.client_kill_filter(_id=first) == 1  # as a Redis restart would
        second = await lane.execute(command(b"CLIENT", b"ID"))
        assert second != first
    finally:
        await lane.aclose()


async def test_it_opens_no_more_than_its_size(redis: Redis, client: Redis) -> None:
    lane = Lane(client, 2)
    try:
        waits = [asyncio.create_task(lane.execute(command(b"BLPOP", b"q", b"0.2"))) for _ in "ab"]
        await until(lambda: blocked_clients(redis, 2))
        assert not lane.free
        assert await asyncio.gather(*waits) == [None, None]
        assert lane.free
        assert await lane_connections(redis) == 2
    finally:
        await lane.aclose()


async def test_a_server_that_is_not_there_fails_at_once() -> None:
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    lane = Lane(down, 1)
    try:
        with pytest.raises(RedisConnectionError):
            await lane.execute(command(b"PING"))
        assert lane.free  # the failed connection is back, to reconnect next time
    finally:
        await lane.aclose()
        await down.aclose()


async def test_lane_and_pool_paths_share_one_exact_limit(redis: Redis) -> None:
    """Hits alternating between a limiter on the lane and one on the pool count as one."""
    settings = limit_settings(burst=5, burst_seconds=60, requests=100)
    lane = Lane(redis, 2)
    on_lane = Limiter(make_gateway(redis, lane=lane), settings)
    on_pool = Limiter(make_gateway(redis), settings)
    await redis.set("threadr:cache:v1:text:x", b"cached")
    try:
        results = [
            await (on_lane if i % 2 else on_pool).hit("1.2.3.4", read="threadr:cache:v1:text:x")
            for i in range(8)
        ]
    finally:
        await lane.aclose()
    assert [d.allowed for d, _ in results] == [True] * 5 + [False] * 3
    assert {d.reason for d, _ in results} == {"allowed", "denied"}  # none degraded
    assert [raw for _, raw in results[:5]] == [b"cached"] * 5
    assert [d.closest.remaining for d, _ in results[:5] if d.closest] == [4, 3, 2, 1, 0]


async def test_the_gateway_prefers_a_free_lane_and_counts_its_failures(redis: Redis) -> None:
    await redis.set("threadr:k", b"v")
    full = make_gateway(redis, lane=Lane(redis, 0))  # never a free connection: the pool answers
    assert await full.get("threadr:k", "test") == b"v"
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    lane = Lane(down, 1)  # a lane that cannot connect, beside a pool that works
    gateway = make_gateway(redis, lane=lane, breaker=CircuitBreaker())
    try:
        assert await gateway.get("threadr:k", "test") is UNAVAILABLE  # it took the free lane
        assert not gateway.available  # and the lane's failure counted
    finally:
        await lane.aclose()
        await down.aclose()


async def test_cache_reads_ride_the_lane(redis: Redis, client: Redis) -> None:
    lane = Lane(client, 1)
    cache = ThreadCache(make_gateway(client, lane=lane), ttl_seconds=60, memory_entries=10)
    entry = CacheEntry.new([Tweet(1, 1, "1/1 Hello.", 10)], "text", None, "offline", 0.0)
    try:
        await cache.set("threadr:test:entry", entry)  # on the pool: one connection
        assert await lane_connections(redis) == 1
        assert await cache.get("threadr:test:entry") == entry
        assert await cache.get("threadr:test:other") is None
        assert await lane_connections(redis) == 2  # and the lane's
        assert (cache.hits, cache.misses) == (1, 1)
    finally:
        await lane.aclose()


async def test_after_a_restart_every_lane_connection_recovers_without_degrading(
    redis: Redis, client: Redis
) -> None:
    """All idle lane connections dropped at once (as a Redis restart or failover would): the next
    hits reconnect, none falls back to the in-process limiter."""
    lane = Lane(client, 8)
    limiter = Limiter(make_gateway(client, lane=lane), limit_settings(burst=1000, requests=1000))
    key = "threadr:cache:v1:text:y"
    try:
        first = await asyncio.gather(*(limiter.hit(f"10.0.0.{i}", read=key) for i in range(8)))
        assert await lane_connections(redis) >= 8
        for c in await redis.client_list():
            if c["name"] == NAME.decode():
                assert await redis.client_kill_filter(_id=c["id"]) == 1
        after = await asyncio.gather(*(limiter.hit(f"10.0.0.{i}", read=key) for i in range(8)))
    finally:
        await lane.aclose()
    assert {d.reason for d, _ in first + after} == {"allowed"}
    assert all(d.closest is not None and d.closest.remaining == 998 for d, _ in after)
