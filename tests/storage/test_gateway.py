"""The gateway: every command and script on fakeredis, the fallback answer (UNAVAILABLE) when
Redis is absent, failing or our own pool is full, and the bound on pool calls in flight. The
lane's side, on a real Redis, is in integration/test_lane.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from tests.factories import BrokenRedis, make_gateway
from threadr.storage.gateway import UNAVAILABLE, Slots
from threadr.storage.scripts import Script, ScriptCall

# The limiter's script with one policy (60 s, limit 1), alone and with a key read along.
LIMITER = Script("ratelimit.lua")
ONE_POLICY = ScriptCall(LIMITER, keys=1, argc=2, tail=(b"60000000", b"1"))
READING = ScriptCall(LIMITER, keys=2, argc=2, tail=(b"60000000", b"1"))
NOW = (b"1", b"1700000000000000")  # consume, at this µs


async def test_slots_bound_concurrency_and_hand_over_in_order() -> None:
    slots = Slots(2)
    await slots.acquire()
    await slots.acquire()
    order: list[int] = []
    queued = asyncio.Event()

    async def waiter(i: int) -> None:
        if i == 2:
            queued.set()
        await slots.acquire()
        order.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
    await queued.wait()  # all three have asked (the third asks last)
    assert order == [] and slots.free == 0
    tasks[0].cancel()  # a cancelled waiter never takes a slot
    slots.release()
    slots.release()
    await asyncio.gather(*tasks[1:])
    assert order == [1, 2] and slots.free == 0
    slots.release()
    slots.release()
    assert slots.free == 2


async def test_without_redis_every_call_is_unavailable() -> None:
    gateway = make_gateway(None)
    assert not gateway.configured and not gateway.available
    assert await gateway.get("k", "test") is UNAVAILABLE
    assert await gateway.call(lambda r: r.ping(), "test") is UNAVAILABLE
    assert await gateway.script(ONE_POLICY, (b"a",), NOW, "test") is UNAVAILABLE


async def test_commands_and_scripts_reach_redis(fake: FakeRedis) -> None:
    gateway = make_gateway(fake)
    await fake.set("threadr:x", b"value")
    assert await gateway.get("threadr:x", "test") == b"value"
    assert await gateway.get("threadr:missing", "test") is None
    assert await gateway.call(lambda r: r.incr("threadr:n"), "test") == 1
    # Allowed, then the policy's remaining, µs to the next unit, µs to full.
    reply = await gateway.script(ONE_POLICY, (b"threadr:rl:{a}:burst",), NOW, "test")
    assert reply == [1, 0, 60_000_000, 60_000_000]
    assert gateway.available


async def test_a_get_rides_along_with_a_script(fake: FakeRedis) -> None:
    gateway = make_gateway(fake)
    await fake.set("threadr:entry", b"cached")
    await fake.hset("threadr:hash", "f", "v")
    keys = (b"threadr:rl:{a}:burst",)
    got = await gateway.script_and_get(READING, keys, NOW, b"threadr:entry", "test")
    assert got == ([1, 0, 60_000_000, 60_000_000], b"cached")
    got = await gateway.script_and_get(
        READING, (b"threadr:rl:{b}:burst",), NOW, b"threadr:hash", "test"
    )
    assert got != UNAVAILABLE and got[1] is None  # a wrong type reads as nothing


async def test_scripts_survive_a_script_flush(fake: FakeRedis) -> None:
    gateway = make_gateway(fake)
    await gateway.load(LIMITER)
    assert await fake.script_exists(LIMITER.sha) == [True]
    await fake.script_flush()
    reply = await gateway.script(ONE_POLICY, (b"threadr:rl:{b}:burst",), NOW, "test")
    assert reply != UNAVAILABLE and reply[0] == 1


async def test_failures_open_the_breaker_and_then_skip_redis(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = BrokenRedis()
    gateway = make_gateway(broken, threshold=2)
    with caplog.at_level(logging.WARNING):
        results = [await gateway.get("k", "cache read") for _ in range(4)]
    assert results == [UNAVAILABLE] * 4
    assert broken.calls == 2 and not gateway.available
    assert "Redis failed (cache read" in caplog.text


async def test_a_full_pool_falls_back_without_opening_the_breaker() -> None:
    """MaxConnectionsError is our shortage, not Redis failing: nothing counts towards opening."""
    gateway = make_gateway(object(), threshold=1)

    async def full(_: Any) -> None:
        raise MaxConnectionsError("Too many connections")

    async def fails(_: Any) -> None:
        raise RedisConnectionError("connection refused")

    assert await gateway.call(full, "test") is UNAVAILABLE
    assert gateway.available
    assert await gateway.call(fails, "test") is UNAVAILABLE
    assert not gateway.available


async def test_a_slow_call_ends_at_the_deadline() -> None:
    gateway = make_gateway(object(), timeout=0.05)
    release = asyncio.Event()

    async def hangs(_: Any) -> None:
        await release.wait()  # a Redis that never answers

    assert await gateway.call(hangs, "test") is UNAVAILABLE


async def test_pool_calls_wait_for_a_slot_instead_of_failing() -> None:
    gateway = make_gateway(object(), pool_slots=1)
    started, release = asyncio.Event(), asyncio.Event()
    in_flight = 0
    most = 0

    async def slow(_: Any) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        started.set()
        await release.wait()
        in_flight -= 1
        return 7

    calls = [asyncio.create_task(gateway.call(slow, "test")) for _ in range(3)]
    await started.wait()  # the first call reached Redis; the others queue for its slot
    release.set()
    assert await asyncio.gather(*calls) == [7, 7, 7]
    assert most == 1


class RecordingLane:
    """Stands in for the lane: always free, records what it is sent."""

    free = True

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def execute(self, packed: bytes) -> Any:
        self.sent.append(packed)
        return [1, 0, 0, 0]


async def test_only_reads_and_hot_scripts_take_the_lane(fake: FakeRedis) -> None:
    """The lane carries the cache hit's one command; misses and status calls queue elsewhere."""
    lane = RecordingLane()
    gateway = make_gateway(fake, lane=lane)
    hot = ScriptCall(LIMITER, keys=1, argc=2, tail=(b"60000000", b"1"), hot=True)
    await gateway.script(ONE_POLICY, (b"threadr:rl:{c}:burst",), NOW, "cold")
    await gateway.call(lambda r: r.set("threadr:y", b"1"), "write")
    assert lane.sent == []
    await gateway.script(hot, (b"threadr:rl:{c}:burst",), NOW, "hot")
    await gateway.get("threadr:y", "cache read")
    assert len(lane.sent) == 2 and lane.sent[1].startswith(b"*2\r\n$3\r\nGET\r\n")


async def test_a_call_with_the_wrong_number_of_arguments_never_reaches_the_lane() -> None:
    lane = RecordingLane()
    hot = ScriptCall(LIMITER, keys=1, argc=2, hot=True)
    for keys, args in (
        ((b"k", b"extra"), NOW),
        ((b"k",), (*NOW, b"extra")),
        ((), NOW),
    ):
        with pytest.raises(ValueError, match="takes 1 keys and 2 arguments"):
            await hot.run_on(lane, keys, args)  # type: ignore[arg-type]
    assert lane.sent == []


async def test_the_pool_path_checks_keys_and_arguments_apart(fake: FakeRedis) -> None:
    with pytest.raises(ValueError, match="takes 1 keys and 2 arguments"):
        await ONE_POLICY.run(fake, (b"a", b"b"), (b"1",))  # the right total, the wrong split
