"""The gateway: every command and script on fakeredis, the fallback answer (UNAVAILABLE) when
Redis is absent, failing or our own pool is full, and the bound on pool calls in flight. The
lane's side, on a real Redis, is in integration/test_lane.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from redis.asyncio import Redis
from redis.exceptions import ClusterDownError, MaxConnectionsError, ReadOnlyError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.factories import BrokenRedis, make_gateway, until
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


async def test_waiters_cancelled_together_leave_the_slots_whole() -> None:
    """Deadlines cancel every late waiter in one tick; a release may pass over their cancelled
    places before they resume, and they must not trip over that."""
    slots = Slots(1)
    await slots.acquire()
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(3)]
    await until(lambda: len(slots._waiters) == 3)
    for task in waiters:
        task.cancel()
    slots.release()  # before the cancelled waiters run again
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert slots.free == 1 and not slots._waiters


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


async def test_one_failure_opens_the_breaker_and_then_every_call_skips_redis(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = BrokenRedis()
    gateway = make_gateway(broken)
    with caplog.at_level(logging.WARNING):
        results = [await gateway.get("k", "cache read") for _ in range(4)]
        written = await gateway.set("k", b"v", 60, "write")
    assert results == [UNAVAILABLE] * 4 and written is UNAVAILABLE
    assert broken.calls == 1 and not gateway.available
    assert caplog.text.count("Redis failed (cache read") == 1


async def test_a_refused_reply_fails_that_call_alone() -> None:
    """WRONGTYPE, a script's error, OOM: Redis is there, so the circuit stays closed."""
    gateway = make_gateway(object())

    async def wrong_type(_: Any) -> None:
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    assert await gateway.call(wrong_type, "test") is UNAVAILABLE
    assert gateway.available and gateway.errors == {"other": 1}


async def test_a_cluster_that_is_down_opens_the_breaker() -> None:
    """CLUSTERDOWN is a reply, but no key is served until the cluster heals: as unreachable
    (each call would otherwise pay redis-py's retries, ~1 s, before falling back)."""
    gateway = make_gateway(object())

    async def down(_: Any) -> None:
        raise ClusterDownError("CLUSTERDOWN The cluster is down")

    assert await gateway.call(down, "test") is UNAVAILABLE
    assert not gateway.available and gateway.errors == {"cluster_down": 1}


async def test_readonly_opens_the_breaker_and_drops_the_idle_connections() -> None:
    """A replica answers READONLY after a failover moved the primary: like a lost connection,
    with every idle connection closed so that the next ones are made afresh (the real replica
    is in integration/test_faults.py)."""
    redis = Redis(host="127.0.0.1", port=1)  # never connected: only its pool is used
    gateway = make_gateway(redis)
    dropped: list[bool] = []

    async def disconnect(inuse_connections: bool = True) -> None:
        dropped.append(inuse_connections)

    redis.connection_pool.disconnect = disconnect  # type: ignore[method-assign]

    async def replica(_: Any) -> None:
        raise ReadOnlyError("You can't write against a read only replica.")

    try:
        assert await gateway.call(replica, "test") is UNAVAILABLE
        assert dropped == [False]  # the idle ones; those in use are cut off as the circuit opens
    finally:
        await redis.aclose()
    assert not gateway.available and gateway.errors == {"readonly": 1}


async def test_opening_cuts_off_every_call_in_flight() -> None:
    """Calls on the pool, queued for a slot and on the lane, all waiting on a Redis that will
    never answer: when the circuit opens they fall back at once, not at their deadlines."""
    lane = HangingLane()
    gateway = make_gateway(object(), timeout=60, pool_slots=2, lane=lane)
    never = asyncio.Event()
    reached = 0

    async def hangs(_: Any) -> None:
        nonlocal reached
        reached += 1
        await never.wait()

    calls: list[asyncio.Task[Any]] = [
        asyncio.create_task(gateway.call(hangs, "test")) for _ in range(5)
    ]
    calls += [asyncio.create_task(gateway.get(f"k{i}", "test")) for i in range(3)]
    await until(lambda: reached == 2 and lane.sent == 3)  # 2 on the pool, 3 queued, 3 on the lane
    async with asyncio.timeout(1):
        gateway.breaker.open("PING: TimeoutError()")
        assert await asyncio.gather(*calls) == [UNAVAILABLE] * 8
    assert reached == 2 and gateway._slots.free == 2
    assert gateway.errors == {"timeout": 5}  # those that reached Redis; the queue counts nothing


async def test_a_full_pool_falls_back_without_opening_the_breaker() -> None:
    """MaxConnectionsError is our shortage, not Redis failing: nothing counts towards opening."""
    gateway = make_gateway(object())

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


async def test_a_hung_redis_holds_no_call_past_one_deadline() -> None:
    """20 calls on 2 slots against a Redis that never answers: the wait for a slot counts
    against the call's one deadline, so the queue does not hold the last call for 10 rounds of
    the timeout; only the calls that got a slot reached Redis."""
    gateway = make_gateway(object(), timeout=0.2, pool_slots=2)
    never = asyncio.Event()
    reached = 0

    async def hangs(_: Any) -> None:
        nonlocal reached
        reached += 1
        await never.wait()

    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(*(gateway.call(hangs, "test") for _ in range(20)))
    assert results == [UNAVAILABLE] * 20
    assert reached == 2  # the other 18 ran out of time in the queue, never adding to the hang
    assert loop.time() - started < 0.2 * 3  # about one deadline (plus a tick), not 2 s
    assert gateway._slots.free == 2  # every slot came back


async def test_a_silent_server_holds_no_call_past_one_deadline() -> None:
    """The same through redis-py, against a server that accepts connections and never
    answers: 20 reads on 2 slots end within about one timeout, on no more than 2 connections."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # and never a byte back

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = Redis(host="127.0.0.1", port=port, max_connections=2 + 4)
    gateway = make_gateway(redis, timeout=0.2, pool_slots=2)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        results = await asyncio.gather(*(gateway.get(f"k{i}", "test") for i in range(20)))
        assert results == [UNAVAILABLE] * 20
        assert loop.time() - started < 0.2 * 3
        assert len(connections) <= 2
    finally:
        await redis.aclose()
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()


async def test_calls_that_waited_while_the_breaker_opened_do_not_reach_redis() -> None:
    gateway = make_gateway(object(), pool_slots=1)
    fail = asyncio.Event()
    reached = 0

    async def fails(_: Any) -> None:
        nonlocal reached
        reached += 1
        await fail.wait()
        raise RedisConnectionError("connection reset")

    calls = [asyncio.create_task(gateway.call(fails, "test")) for _ in range(3)]
    await until(lambda: reached == 1)  # the first holds the slot; two wait behind it
    fail.set()  # it fails: the breaker opens while the others wait
    assert await asyncio.gather(*calls) == [UNAVAILABLE] * 3
    assert reached == 1 and not gateway.available
    assert gateway._slots.free == 1


async def test_a_slot_wait_that_runs_out_does_not_count_against_redis() -> None:
    """Calls that ran out of time in the queue never reached Redis: only calls in flight tell
    whether Redis fails, so a queue behind a busy pool cannot open the breaker by itself."""
    gateway = make_gateway(object(), timeout=0.05, pool_slots=1)

    async def fine(_: Any) -> int:
        return 1

    await gateway._slots.acquire()  # a call in flight holds the only slot throughout
    async with asyncio.timeout(5):  # before the fix a queued call waited for ever
        queued = [await gateway.call(fine, "test") for _ in range(3)]
    assert queued == [UNAVAILABLE] * 3
    assert gateway.available  # one counted failure would have opened it
    gateway._slots.release()
    assert await gateway.call(fine, "test") == 1


class HangingLane:
    """Stands in for the lane to a Redis that never answers: always free, counts what it sends."""

    free = True

    def __init__(self) -> None:
        self.sent = 0

    async def execute(self, packed: bytes) -> Any:
        self.sent += 1
        await asyncio.Event().wait()


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


async def test_failed_calls_are_counted_by_kind() -> None:
    gateway = make_gateway(object(), timeout=0.05)
    release = asyncio.Event()

    async def refused(_: Any) -> None:
        raise RedisConnectionError("connection refused")

    async def hangs(_: Any) -> None:
        await release.wait()

    async def wrong_type(_: Any) -> None:
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    async def full(_: Any) -> None:
        raise MaxConnectionsError("Too many connections")

    for fn in (refused, refused, hangs, wrong_type, full):
        assert await gateway.call(fn, "test") is UNAVAILABLE
        gateway.breaker.close()  # as the watch's probe would: each call reaches Redis
    assert gateway.errors == {"connection": 2, "timeout": 1, "other": 1, "pool_full": 1}
    assert await gateway.call(lambda r: asyncio.sleep(0), "test") is None  # none for a success
    assert sum(gateway.errors.values()) == 5
