"""The limiter on a real Redis: exact under concurrency across clients, SCRIPT FLUSH mid-run,
one round trip per hit, the app's clock, and an unreachable server."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from redis.asyncio import Connection, ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.factories import TEST_REDIS_URL, Clock, limit_settings, make_gateway
from threadr.config import Settings
from threadr.limits.policies import Decision
from threadr.limits.ratelimit import TIER_SCRIPT, Limiter
from threadr.storage.gateway import UNAVAILABLE

US = 1e-6


async def hits(limiter: Limiter, n: int, identity: str = "198.51.100.7") -> list[Decision]:
    return [(await limiter.hit(identity))[0] for _ in range(n)]


@pytest.fixture
def clock() -> Clock:
    return Clock(1_700_000_000.0)


async def test_concurrent_hits_are_exact(redis: Redis) -> None:
    clients = [Redis.from_url(TEST_REDIS_URL, max_connections=40) for _ in range(5)]
    settings = limit_settings(burst=30, burst_seconds=3600)
    limiters = [Limiter(make_gateway(c), settings) for c in clients]
    try:
        results = await asyncio.gather(*(limiters[i % 5].hit("198.51.100.1") for i in range(200)))
    finally:
        for c in clients:
            await c.aclose()
    assert sum(d.allowed for d, _ in results) == 30
    assert {d.reason for d, _ in results} == {"allowed", "denied"}


async def test_script_flush_mid_run_raises_nothing(redis: Redis) -> None:
    limiter = Limiter(make_gateway(redis), limit_settings(burst=40, burst_seconds=3600))
    decisions: list[Decision] = []
    for _ in range(5):  # flushes racing with hits, with and without a read along
        results = await asyncio.gather(
            *(limiter.hit("u", read="k" if i % 2 else None) for i in range(10)),
            *(redis.script_flush() for _ in range(3)),
        )
        decisions += [result[0] for result in results[:10]]  # type: ignore[index]
    assert sum(d.allowed for d in decisions) == 40
    assert limiter.counts == {"allowed": 40, "denied": 10, "degraded": 0, "disabled": 0}


async def test_hit_with_cache_get_is_one_round_trip(redis: Redis) -> None:
    writes = 0

    class CountingConnection(Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            nonlocal writes
            writes += 1  # one write per round trip: a pipeline is packed into one
            await super().send_packed_command(command, check_health)

    pool = ConnectionPool.from_url(TEST_REDIS_URL, connection_class=CountingConnection)
    counted = Redis.from_pool(pool)
    await redis.set("threadr:cache:v1:url:x", b"cached")
    gateway = make_gateway(counted)
    limiter = Limiter(gateway, Settings())
    try:
        await gateway.load(TIER_SCRIPT)  # start-up: registers the script, opens the connection
        writes = 0
        decision, cached = await limiter.hit("192.0.2.8", read="threadr:cache:v1:url:x")
        assert (decision.reason, cached, writes) == ("allowed", b"cached", 1)
        writes = 0
        await limiter.hit("192.0.2.8")
        await limiter.peek("192.0.2.8")
        assert writes == 2
    finally:
        await counted.aclose()


async def test_client_clock_boundaries_on_redis(redis: Redis, clock: Clock) -> None:
    limiter = Limiter(make_gateway(redis), limit_settings(burst=1, requests=1000), clock=clock)
    assert [d.allowed for d in await hits(limiter, 2)] == [True, False]
    assert 59_000 < await redis.pttl("threadr:rl:{198.51.100.7}:tier") <= 60_000
    clock.advance(60 - US)
    assert not (await limiter.hit("198.51.100.7"))[0].allowed
    clock.advance(US)
    assert (await limiter.hit("198.51.100.7"))[0].allowed


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_redis_gives_degraded_decisions() -> None:
    no_retry = Retry(NoBackoff(), 0)
    r = Redis(port=_closed_port(), socket_connect_timeout=0.2, socket_timeout=0.2, retry=no_retry)
    limiter = Limiter(make_gateway(r), limit_settings(burst=2))
    started = time.monotonic()
    try:
        results = [await limiter.hit("u", read="k") for _ in range(3)]
    finally:
        await r.aclose()
    assert [(d.allowed, d.reason, c) for d, c in results] == [
        (True, "degraded", UNAVAILABLE),
        (True, "degraded", UNAVAILABLE),
        (False, "degraded", UNAVAILABLE),
    ]
    assert results[2][0].retry_after == 30
    assert time.monotonic() - started < 1
