"""The watch: its three states (the breaker's), the log lines the setup guide promises, a probe
that closes the circuit in the background once Redis answers, a stalled call that has it probe
(and a failed probe cutting the calls in flight off), a background task that stops with the
app, and a cluster no node of which answers. The timings against real processes are in
integration/test_faults.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fakeredis import FakeServer
from redis.asyncio import RedisCluster

from tests.factories import BrokenRedis, CountingRedis, make_gateway, until
from tests.integration.processes import free_port
from threadr.storage.cluster import ClusterGateway
from threadr.storage.cluster_probe import _cluster_ok
from threadr.storage.gateway import UNAVAILABLE
from threadr.storage.watch import RedisWatch


async def test_without_redis_it_is_not_configured() -> None:
    watch = RedisWatch(make_gateway(None))
    await watch.start()
    assert watch.status == "not_configured" and not await watch.check()
    assert not watch.connected
    await watch.stop()


async def test_it_says_when_redis_comes_and_goes(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer()
    gateway = make_gateway(CountingRedis(server=server))
    watch = RedisWatch(gateway)
    with caplog.at_level(logging.INFO):
        await watch.start()
        assert watch.status == "connected" and gateway.available
        server.connected = False  # the server goes away
        assert not await watch.check()
        assert watch.status == "disconnected" and not gateway.available  # one state
        server.connected = True
        assert await watch.check()
    await watch.stop()
    assert watch.status == "connected"
    assert "Redis connection lost" in caplog.text
    assert caplog.text.count("Redis connection established successfully") == 2


async def test_a_redis_down_at_start_up_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    gateway = make_gateway(BrokenRedis())
    watch = RedisWatch(gateway)
    with caplog.at_level(logging.WARNING):
        await watch.start()
    await watch.stop()
    assert watch.status == "disconnected"
    assert gateway.breaker.is_open  # the first requests do not wait to find it out
    assert caplog.text.count("falling back to in-memory operations") == 1
    assert "Redis connection lost" not in caplog.text


async def test_the_probe_closes_the_circuit_in_the_background() -> None:
    """A call's failure opened the circuit; nobody calls Redis while it is open, and the watch's
    next probe, finding Redis there, closes it for everyone."""
    redis = CountingRedis(server=FakeServer())
    gateway = make_gateway(redis)
    watch = RedisWatch(gateway, interval=0.01)
    await watch.start()
    gateway.breaker.open("GET: ConnectionError('reset')")
    assert await gateway.get("threadr:k", "test") is UNAVAILABLE
    await until(lambda: gateway.available)
    await watch.stop()
    assert await gateway.get("threadr:k", "test") is None  # on Redis again
    assert redis.commands == ["GET"]  # the probes took no pool connection, and no call did


async def test_a_stalled_call_has_the_watch_probe_and_its_failure_cuts_the_call_off() -> None:
    """A call waiting on Redis longer than a probe's timeout is the cue to PING; no answer
    opens the circuit, and the call falls back at once instead of at its 60-second deadline."""
    server = FakeServer()
    gateway = make_gateway(CountingRedis(server=server), timeout=60)
    watch = RedisWatch(gateway, interval=0.01, heartbeat=3600)
    await watch.start()
    never = asyncio.Event()

    async def hangs(_: Any) -> None:
        server.connected = False  # Redis goes away with this call in flight
        await never.wait()

    async with asyncio.timeout(5):
        assert await gateway.call(hangs, "test") is UNAVAILABLE
    assert watch.status == "disconnected"
    assert gateway.errors["timeout"] == 1  # counted as the deadline would have
    await watch.stop()


async def test_an_idle_process_sees_redis_go_at_its_heartbeat_and_stops_with_the_app() -> None:
    server = FakeServer()
    watch = RedisWatch(make_gateway(CountingRedis(server=server)), interval=0.01, heartbeat=0.02)
    await watch.start()
    server.connected = False  # no call in flight: only the heartbeat can tell
    await until(lambda: watch.status == "disconnected")
    task = watch._task
    await watch.stop()
    assert task is not None and task.cancelled()  # no PING after the app stops


async def test_a_cluster_no_node_of_which_answers_is_down_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RedisCluster says so with RedisClusterException, which is no RedisError."""
    client = RedisCluster(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    watch = RedisWatch(ClusterGateway(client, timeout=2.0, pool_slots=4))
    with caplog.at_level(logging.WARNING):
        await watch.start()
    await watch.stop()
    await client.aclose()
    assert watch.status == "disconnected"
    assert "Redis connection failed (cluster: RedisCluster" in caplog.text
    assert "Redis Cluster cannot be connected" in caplog.text


@pytest.mark.parametrize(
    ("info", "ok"),
    [
        ({"cluster_state": "ok", "cluster_slots_ok": 16384}, True),
        ({"cluster_state": "fail"}, False),
        (b"cluster_state:ok\r\ncluster_slots_assigned:16384\r\n", True),
        ("cluster_state:fail\r\n", False),
    ],
)
def test_a_cluster_node_is_closed_only_when_it_serves_keys(info: object, ok: bool) -> None:
    assert _cluster_ok(info) is ok
