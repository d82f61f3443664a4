"""The gateway on Redis Cluster, on fakeredis dressed as three masters (slots in thirds) of which
any can be "killed": a breaker per node, so a dead master takes only its own keys to the
fallbacks; the limiter's cache read as a call of its own; counters and cache writes split by
node. The real thing (3 redis-servers, 2 app processes, a master killed) is proven in
integration/test_cluster.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import fakeredis
from fakeredis.aioredis import FakeRedis
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import SlotNotCoveredError

from tests.factories import make_settings
from tests.integration.processes import free_port
from threadr.cache import CacheEntry, ThreadCache, encode_entry
from threadr.limits.admission import Admission
from threadr.limits.ratelimit import Limiter
from threadr.storage import indexed
from threadr.storage.client import create_redis
from threadr.storage.cluster import ClusterGateway
from threadr.storage.counters import Counters
from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.scripts import Script, ScriptCall

NODES = ("127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003")
LIMITER = Script("ratelimit.lua")
READING = ScriptCall(LIMITER, keys=2, argc=2, tail=(b"60000000", b"1"))  # one policy + a read
NOW = (b"1", b"1700000000000000")


def node_of(key: str | bytes) -> str:
    """The node serving `key`: the slots split in thirds, as `redis-cli --cluster create` does."""
    slot = key_slot(key.encode() if isinstance(key, str) else key)
    return NODES[slot * len(NODES) // 16384]


def key_on(node: str, prefix: str) -> str:
    """A key under `prefix` that lives on `node`."""
    return next(f"{prefix}{i}" for i in range(10_000) if node_of(f"{prefix}{i}") == node)


class Layout:
    """The slot map RedisCluster keeps (its `nodes_manager`), as the gateway reads it."""

    def __init__(self) -> None:
        self.known = True
        self.nodes_cache = {
            name: SimpleNamespace(name=name, server_type="primary") for name in NODES
        }

    def get_node_from_slot(self, slot: int) -> Any:
        if not self.known:
            raise SlotNotCoveredError(f'Slot "{slot}" not covered by the cluster.')
        return SimpleNamespace(name=NODES[slot * len(NODES) // 16384])


def first_key(args: tuple[Any, ...]) -> Any:
    name = str(args[0]).upper()
    if name in ("EVAL", "EVALSHA"):
        return args[3] if int(args[2]) else None
    return args[1] if len(args) > 1 else None


class FakeCluster(FakeRedis):
    """fakeredis as three masters; a master in `dead` fails every command on its keys as a
    killed one does (connection refused), and a pipeline with a command of its applies the
    others' part and then fails, as RedisCluster's does."""

    def __init__(self) -> None:
        super().__init__(server=fakeredis.FakeServer())
        self.nodes_manager = Layout()
        self.dead: set[str] = set()
        self.reached: list[str] = []  # the node of each command sent

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        key = first_key(args)
        if key is not None:
            self.reached.append(node_of(key))
            if node_of(key) in self.dead:
                raise RedisConnectionError(f"Error 111 connecting to {node_of(key)}.")
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        return FakeClusterPipeline(self)

    def real_pipeline(self) -> Any:
        return super().pipeline(transaction=False)


class FakeClusterPipeline:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.queued: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, command: str) -> Any:
        def queue(*args: Any, **options: Any) -> FakeClusterPipeline:
            self.queued.append((command, args, options))
            return self

        return queue

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        pipe, failed = self.cluster.real_pipeline(), False
        for command, args, options in self.queued:
            self.cluster.reached.append(node_of(args[0]))
            if node_of(args[0]) in self.cluster.dead:
                failed = True
            else:
                getattr(pipe, command)(*args, **options)
        replies: list[Any] = await pipe.execute(raise_on_error=raise_on_error)
        if failed:
            raise RedisConnectionError("a node of this pipeline is down")
        return replies


def cluster_gateway(cluster: FakeCluster) -> ClusterGateway:
    return ClusterGateway(cast(Redis, cluster), timeout=2.0, pool_slots=16)


async def test_a_dead_master_takes_only_its_own_keys_to_the_fallback() -> None:
    cluster = FakeCluster()
    gateway = cluster_gateway(cluster)
    live, dead = key_on(NODES[0], "threadr:k"), key_on(NODES[1], "threadr:k")
    await cluster.set(live, b"here")
    cluster.dead.add(NODES[1])
    cluster.reached.clear()
    assert [await gateway.get(dead, "test") for _ in range(4)] == [UNAVAILABLE] * 4
    assert cluster.reached == [NODES[1]]  # its breaker opened at the first failure
    assert await gateway.get(live, "test") == b"here"  # the others serve on
    assert await gateway.set(key_on(NODES[2], "threadr:s"), b"v", 60, "test") is True
    assert not gateway.available  # some keys are served from memory: degraded
    assert gateway.breaker_for(dead).is_open and not gateway.breaker_for(live).is_open
    assert not gateway.breaker.is_open  # keyless calls are not held back by one node
    # A failover: the slots went to a promoted replica; the old master counts no more.
    del cluster.nodes_manager.nodes_cache[NODES[1]]
    assert gateway.available


async def test_a_node_failure_of_the_cluster_client_falls_back_too() -> None:
    """SlotNotCoveredError is no RedisError: caught all the same, and counted."""

    class Uncovered(FakeCluster):
        async def execute_command(self, *args: Any, **options: Any) -> Any:
            raise SlotNotCoveredError("Slot 42 not covered by the cluster.")

    cluster = Uncovered()
    gateway = cluster_gateway(cluster)
    assert await gateway.get("threadr:k", "test") is UNAVAILABLE
    assert gateway.breaker_for("threadr:k").is_open


async def test_before_the_slots_are_known_calls_count_on_the_keyless_breaker() -> None:
    cluster = FakeCluster()
    cluster.nodes_manager.known = False
    gateway = cluster_gateway(cluster)
    assert gateway.breaker_for("threadr:k") is gateway.keyless
    await cluster.set("threadr:k", b"v")
    assert await gateway.get("threadr:k", "test") == b"v"


async def test_the_limiter_and_its_cache_read_are_two_calls_each_on_its_node() -> None:
    cluster = FakeCluster()
    gateway = cluster_gateway(cluster)
    policy = next(
        f"threadr:rl:{{{i}}}:burst".encode()
        for i in range(1000)
        if node_of(f"threadr:rl:{{{i}}}:burst") == NODES[0]
    )
    entry = key_on(NODES[1], "threadr:cache:v1:text:").encode()
    await cluster.set(entry, b"cached")
    await cluster.script_load(LIMITER.source)  # else EVALSHA, NOSCRIPT, then EVAL
    cluster.reached.clear()
    got = await gateway.script_and_get(READING, (policy,), NOW, entry, "test")
    assert got == ([1, 0, 60_000_000, 60_000_000], b"cached")
    assert cluster.reached == [NODES[0], NODES[1]]  # the script (without the read), the GET

    cluster.dead.add(NODES[1])  # the entry's master is down: the limiter still decides
    got = await gateway.script_and_get(READING, (policy,), NOW, entry, "test")
    assert got != UNAVAILABLE and got[1] is UNAVAILABLE and got[0][0] == 0  # its limit of 1: used

    cluster.dead = {NODES[0]}  # the limiter's master is down: no GET is sent
    cluster.reached.clear()
    assert await gateway.script_and_get(READING, (policy,), NOW, entry, "test") is UNAVAILABLE
    assert cluster.reached == [NODES[0]]


async def test_admission_serves_an_entry_whose_master_is_down_from_memory() -> None:
    cluster = FakeCluster()
    gateway = cluster_gateway(cluster)
    cache = ThreadCache(gateway, ttl_seconds=60, memory_entries=8)
    admission = Admission(Limiter(gateway, make_settings()), cache)
    entry = CacheEntry.new([], "text", None, "offline", 0.0)
    key = key_on(NODES[2], "threadr:cache:v1:text:")
    identity = next(f"10.0.0.{i}" for i in range(256) if node_of(f"10.0.0.{i}") == NODES[0])
    await cache.set(key, entry)  # to Redis
    decision, found = await admission.enter(identity, key)
    assert decision.allowed and decision.reason == "allowed" and found == entry

    cluster.dead.add(NODES[2])
    cache.memory.set(key, encode_entry(entry), 60)  # what this process wrote while it was down
    decision, found = await admission.enter(identity, key)
    assert decision.reason == "allowed" and found == entry  # limited in Redis, read from memory


async def test_counters_on_a_cluster_keep_only_a_dead_masters_deltas() -> None:
    """One pipeline per key: the live masters' deltas are applied once, whatever the dead one
    does (a pipeline across nodes would apply them, fail, and send them again each second)."""
    cluster = FakeCluster()
    gateway = cluster_gateway(cluster)
    counters = Counters(gateway)
    live, dead = key_on(NODES[0], "threadr:stats:"), key_on(NODES[1], "threadr:stats:")
    cluster.dead.add(NODES[1])
    for _ in range(3):
        counters.add(live, "hits", 2)
        counters.add(dead, "hits", 5, ttl=90)
        assert not await counters.flush()
    assert await cluster.hget(live, "hits") == b"6"  # 3 flushes of 2, each applied once
    assert counters.pending == {(dead, "hits"): 15}
    cluster.dead.clear()
    gateway.breaker_for(dead).close()  # as the watch's PING to that node would
    assert await counters.flush()
    assert await cluster.hget(dead, "hits") == b"15" and 0 < await cluster.ttl(dead) <= 90


async def test_cache_writes_need_only_the_entrys_master() -> None:
    cluster = FakeCluster()
    gateway = cluster_gateway(cluster)
    index = "threadr:cache-index:v1"
    key = next(
        f"threadr:cache:v1:text:{i}"
        for i in range(1000)
        if node_of(f"threadr:cache:v1:text:{i}") != node_of(index)
    )
    assert await indexed.put(gateway, index, key, b"entry", 60, 1000.0, "test")
    assert await cluster.zscore(index, key) == 1060.0
    cluster.dead.add(node_of(index))
    other = key.replace("text:", "text:other-")
    assert await indexed.put(gateway, index, other, b"entry", 60, 1000.0, "test")
    assert await cluster.get(other) == b"entry"  # written; only the count is off
    assert await indexed.remove(gateway, index, key, "test") is True
    assert await cluster.get(key) is None
    cluster.dead = {node_of(key)}
    assert await indexed.put(gateway, index, key, b"entry", 60, 1000.0, "test") is False


async def test_a_cluster_client_gets_the_cluster_gateway_without_a_lane() -> None:
    settings = make_settings(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}",
        REDIS_CLUSTER="true",
        REDIS_MAX_CONNECTIONS="8",
    )
    client = create_redis(settings)  # connects lazily: nothing listens there
    assert isinstance(client, RedisCluster)
    gateway = Gateway.for_settings(settings, client)
    assert isinstance(gateway, ClusterGateway) and gateway.cluster and gateway.lane is None
    assert gateway._slots.free == 8  # the whole budget: no lane to share it with
    await client.aclose()
    single = create_redis(make_settings(REDIS_URL="redis://127.0.0.1:6379/7"))
    assert not Gateway.for_settings(make_settings(), single).cluster
    assert single is not None
    await single.aclose()


async def test_a_keyless_call_that_fails_leaves_the_instance_in_rotation() -> None:
    """A call across the cluster (INFO of every primary, a pipeline across slots) fails when
    one master is down: it falls back, and the next keyless calls with it, but the shared
    breaker — /health, /readiness, the calls to the other masters — stays closed."""
    cluster = FakeCluster()
    gateway = cluster_gateway(cluster)

    async def fails(_: Any) -> None:
        raise RedisConnectionError("one master is down")

    assert await gateway.call(fails, "INFO") is UNAVAILABLE
    assert gateway.keyless.is_open and not gateway.breaker.is_open
    assert not gateway.available  # the watch probes until every primary answers again
    await cluster.set(key_on(NODES[0], "threadr:k"), b"v")
    assert await gateway.get(key_on(NODES[0], "threadr:k"), "test") == b"v"
