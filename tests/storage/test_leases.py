"""Generation leases on fakeredis: one holder at a time, waiters woken by its release, take-over
when it goes without an entry or dies, and working alone when Redis cannot say."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import CountingRedis, make_gateway, until
from threadr.storage.leases import Found, Lease, Leases
from threadr.storage.signals import Signals

KEY = "threadr:cache:v1:text:abc"
LEASE = "threadr:lease:v1:{threadr:cache:v1:text:abc}"
FOREVER = 60.0  # a wait that only a message (or the test's end) can cut short


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


class Instance:
    """One instance's view of the shared Redis: its own client, signals and leases."""

    def __init__(self, server: fakeredis.FakeServer, **options: Any) -> None:
        self.redis = CountingRedis(server=server)
        self.signals = Signals(self.redis, timeout=2.0)
        self.leases = Leases(make_gateway(self.redis), self.signals, **options)

    async def aclose(self) -> None:
        await self.signals.aclose()
        await self.redis.aclose()


@pytest.fixture
async def instances(server: fakeredis.FakeServer) -> AsyncIterator[list[Instance]]:
    made: list[Instance] = []
    yield made
    for instance in made:
        await instance.aclose()


def instance(made: list[Instance], server: fakeredis.FakeServer, **options: Any) -> Instance:
    made.append(Instance(server, **options))
    return made[-1]


def looks(instance: Instance) -> int:
    """How many times the instance has looked at the lease (each look is one script call)."""
    return instance.redis.commands.count("EVALSHA")


async def test_the_first_claim_holds_the_lease_and_an_entry_is_found_by_the_next(
    server: fakeredis.FakeServer, instances: list[Instance]
) -> None:
    a = instance(instances, server)
    lease = await a.leases.claim(KEY, FOREVER)
    assert isinstance(lease, Lease) and lease.shared
    async with lease:
        assert 0 < await a.redis.pttl(LEASE) <= 15_000
        await a.redis.set(KEY, b"entry", ex=60)
    assert await a.redis.exists(LEASE) == 0  # released at the block's end
    found = await a.leases.claim(KEY, FOREVER)
    assert isinstance(found, Found) and found.entry == b"entry" and 0 < found.ttl_ms <= 60_000


async def test_a_waiter_is_woken_by_the_release_and_reads_the_entry(
    server: fakeredis.FakeServer, instances: list[Instance]
) -> None:
    a = instance(instances, server)
    # Without the message, b would look again only after a minute.
    b = instance(instances, server, check_seconds=FOREVER, poll_seconds=FOREVER)
    lease = await a.leases.claim(KEY, FOREVER)
    assert isinstance(lease, Lease)
    async with lease:
        waiter = asyncio.create_task(b.leases.claim(KEY, FOREVER))
        await until(lambda: looks(b) == 2)  # its first look, then its look once subscribed
        await a.redis.set(KEY, b"entry", ex=60)
    async with asyncio.timeout(5):
        found = await waiter
    assert isinstance(found, Found) and found.entry == b"entry"


async def test_a_release_without_an_entry_hands_the_lease_to_a_waiter(
    server: fakeredis.FakeServer, instances: list[Instance]
) -> None:
    a = instance(instances, server)
    b = instance(instances, server, check_seconds=FOREVER, poll_seconds=FOREVER)
    lease = await a.leases.claim(KEY, FOREVER)
    assert isinstance(lease, Lease)
    async with lease:  # the work fails: no entry is written
        waiter = asyncio.create_task(b.leases.claim(KEY, FOREVER))
        await until(lambda: looks(b) == 2)  # its first look, then its look once subscribed
    async with asyncio.timeout(5):
        taken = await waiter
    assert isinstance(taken, Lease) and taken.shared
    async with taken:
        assert await a.redis.exists(LEASE) == 1  # b's now


async def test_a_dead_holders_lease_expires_and_a_waiter_takes_over(
    server: fakeredis.FakeServer, instances: list[Instance]
) -> None:
    dead = instance(instances, server, lease_ms=50)
    assert isinstance(await dead.leases.claim(KEY, FOREVER), Lease)  # taken, never renewed
    b = instance(instances, server, check_seconds=0.01)
    async with asyncio.timeout(5):
        taken = await b.leases.claim(KEY, FOREVER)
    assert isinstance(taken, Lease) and taken.shared


async def test_a_held_lease_is_renewed_past_its_time_to_live(
    server: fakeredis.FakeServer, instances: list[Instance]
) -> None:
    a = instance(instances, server, lease_ms=100, renew_seconds=0.02)
    lease = await a.leases.claim(KEY, FOREVER)
    assert isinstance(lease, Lease)
    loop = asyncio.get_running_loop()
    async with lease:
        started = loop.time()
        await until(lambda: loop.time() - started > 0.3)  # three times the lease's TTL
        assert await a.redis.exists(LEASE) == 1
        alone = await instance(instances, server).leases.claim(KEY, 0)
        assert isinstance(alone, Lease) and not alone.shared  # still held
    assert await a.redis.exists(LEASE) == 0


async def test_the_wait_is_bounded_then_the_waiter_works_alone(
    server: fakeredis.FakeServer, instances: list[Instance]
) -> None:
    a = instance(instances, server)
    b = instance(instances, server, check_seconds=0.01)
    lease = await a.leases.claim(KEY, FOREVER)
    assert isinstance(lease, Lease)
    async with lease:
        alone = await b.leases.claim(KEY, 0.05)
        assert isinstance(alone, Lease) and not alone.shared
        async with alone:  # nothing to renew or release
            pass
        assert await a.redis.exists(LEASE) == 1  # still a's


async def test_a_release_never_deletes_a_lease_taken_over_since(
    server: fakeredis.FakeServer, instances: list[Instance]
) -> None:
    a = instance(instances, server, lease_ms=50)
    b = instance(instances, server, check_seconds=0.01)
    late = await a.leases.claim(KEY, FOREVER)
    assert isinstance(late, Lease)
    async with late:  # its renewals come too late: b takes the lease over meanwhile
        taken = await b.leases.claim(KEY, FOREVER)
        assert isinstance(taken, Lease) and taken.shared
        token = await b.redis.get(LEASE)
    assert await b.redis.get(LEASE) == token  # a's release left b's lease alone


async def test_without_redis_every_claim_works_alone() -> None:
    leases = Leases(make_gateway(None))
    lease = await leases.claim(KEY, FOREVER)
    assert isinstance(lease, Lease) and not lease.shared


async def test_a_waiter_without_signals_looks_for_itself(server: fakeredis.FakeServer) -> None:
    holder = Leases(make_gateway(FakeRedis(server=server)))
    waiter = Leases(make_gateway(FakeRedis(server=server)), poll_seconds=0.01)
    lease = await holder.claim(KEY, FOREVER)
    assert isinstance(lease, Lease)
    task = asyncio.create_task(waiter.claim(KEY, FOREVER))
    async with lease:
        await FakeRedis(server=server).set(KEY, b"entry", ex=60)
    async with asyncio.timeout(5):
        found = await task
    assert isinstance(found, Found)
