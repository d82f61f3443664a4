"""Shared counters: deltas flushed in one pipeline, kept while Redis is away, flushed at close."""

from __future__ import annotations

import fakeredis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.factories import make_gateway, until
from threadr.storage.counters import Counters


async def test_deltas_are_added_to_redis_and_cleared() -> None:
    redis = fakeredis.FakeAsyncRedis()
    counters = Counters(make_gateway(redis))
    counters.add("threadr:stats:t", "hits", 3)
    counters.add("threadr:stats:t", "hits", 2)
    counters.add("threadr:stats:day", "misses", 1, ttl=90)
    counters.add("threadr:stats:t", "misses", 0)  # nothing to send
    assert await counters.flush()
    assert await redis.hgetall("threadr:stats:t") == {b"hits": b"5"}
    assert 0 < await redis.ttl("threadr:stats:day") <= 90
    assert counters.pending == {}
    await redis.aclose()


async def test_redis_away_keeps_the_deltas_for_the_next_flush() -> None:
    # Nothing listens on port 1: every call fails at once with a connection error.
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    counters = Counters(make_gateway(down))
    counters.add("threadr:stats:t", "hits", 2)
    assert not await counters.flush()
    counters.add("threadr:stats:t", "hits", 1)
    assert counters.pending == {("threadr:stats:t", "hits"): 3}
    redis = fakeredis.FakeAsyncRedis()
    counters.gateway = make_gateway(redis)  # Redis is back
    assert await counters.flush()
    assert await redis.hget("threadr:stats:t", "hits") == b"3"
    await redis.aclose()
    await down.aclose()


async def test_the_timer_flushes_and_close_flushes_the_rest() -> None:
    redis = fakeredis.FakeAsyncRedis()
    counters = Counters(make_gateway(redis), interval=0.01)
    counted = [2]  # what a hot path counted in process, harvested once

    def harvest(c: Counters) -> None:
        c.add("threadr:stats:t", "hits", counted.pop() if counted else 0)

    counters.harvest(harvest)
    await counters.start()

    async def flushed() -> bool:
        return await redis.hget("threadr:stats:t", "hits") == b"2"

    await until(flushed)  # by the timer
    counters.add("threadr:stats:t", "misses", 4)
    await counters.aclose()  # at shutdown, without waiting for the timer
    assert await redis.hgetall("threadr:stats:t") == {b"hits": b"2", b"misses": b"4"}
    await redis.aclose()


async def test_a_refused_update_is_not_sent_again_nor_held_against_redis() -> None:
    """A key of another type makes one HINCRBY fail while the others apply: resending the
    batch would count them twice, and the breaker must not open over it (issue #12 review)."""
    redis = fakeredis.FakeAsyncRedis()
    await redis.set("threadr:stats:broken", "a string")
    gateway = make_gateway(redis)
    counters = Counters(gateway)
    for _ in range(3):
        counters.add("threadr:stats:broken", "hits", 1)
        counters.add("threadr:stats:t", "misses", 5)
        assert await counters.flush()
    assert await redis.hget("threadr:stats:t", "misses") == b"15"  # not 5, 15, 30
    assert not gateway.breaker.is_open
    await redis.aclose()


async def test_a_node_that_did_not_answer_keeps_its_deltas() -> None:
    """A cluster's pipeline returns a node's connection error in place under
    raise_on_error=False, as it does a refusal: that is Redis away, and the deltas wait."""

    class Unanswered:
        def pipeline(self, transaction: bool = True) -> Unanswered:
            return self

        def hincrby(self, *args: object) -> None:
            pass

        async def execute(self, raise_on_error: bool = True) -> list[object]:
            return [RedisConnectionError("Error 111 connecting to 127.0.0.1:7002.")]

    counters = Counters(make_gateway(Unanswered()))
    counters.add("threadr:stats:t", "hits", 2)
    assert not await counters.flush()
    assert counters.pending == {("threadr:stats:t", "hits"): 2}
