"""The health watch: its three states, the log lines the setup guide promises, one shared PING
for a burst of checks, and a background refresh that stops with the app."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fakeredis import FakeServer
from redis.asyncio import RedisCluster

from tests.factories import BrokenRedis, CountingRedis, until
from tests.integration.processes import free_port
from threadr.storage.watch import RedisWatch


async def test_without_redis_it_is_not_configured() -> None:
    watch = RedisWatch(None, timeout=2.0)
    await watch.start()
    assert watch.status == "not_configured" and not await watch.check()
    await watch.stop()


async def test_it_says_when_redis_comes_and_goes(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer()
    watch = RedisWatch(CountingRedis(server=server), timeout=2.0)
    with caplog.at_level(logging.INFO):
        await watch.start()
        assert watch.status == "connected"
        server.connected = False  # the server goes away
        assert not await watch.check()
    await watch.stop()
    assert watch.status == "disconnected"
    assert "Redis connection established successfully" in caplog.text
    assert "Redis connection lost" in caplog.text


async def test_a_redis_down_at_start_up_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    watch = RedisWatch(BrokenRedis(), timeout=2.0)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        await watch.start()
    await watch.stop()
    assert watch.status == "disconnected"
    assert caplog.text.count("falling back to in-memory operations") == 1


async def test_a_burst_of_checks_shares_one_ping() -> None:
    redis = CountingRedis(server=FakeServer())
    watch = RedisWatch(redis, timeout=2.0)
    assert await asyncio.gather(*(watch.check() for _ in range(20))) == [True] * 20
    assert redis.commands == ["PING"]


async def test_the_state_is_refreshed_in_the_background_until_stopped() -> None:
    redis = CountingRedis(server=FakeServer())
    watch = RedisWatch(redis, interval=0.01, timeout=2.0)
    await watch.start()
    await until(lambda: len(redis.commands) >= 3)  # start-up's PING, then the watch's own
    await watch.stop()
    assert watch._task is not None and watch._task.cancelled()  # no PING after the app stops


async def test_a_cluster_no_node_of_which_answers_is_down_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RedisCluster says so with RedisClusterException, which is no RedisError."""
    client = RedisCluster(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    watch = RedisWatch(client, timeout=2.0)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        await watch.start()
    await watch.stop()
    await client.aclose()
    assert watch.status == "disconnected"
    assert "Redis connection failed (Redis Cluster cannot be connected" in caplog.text
