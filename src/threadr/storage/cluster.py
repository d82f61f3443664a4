"""The gateway on Redis Cluster: a circuit breaker per node, so that a master that is down sends
the keys of its own slots to the in-process fallbacks while the others keep serving theirs; and
every call on redis-py's pools (one per node), the lane left out.

Why no lane: the lane writes pre-packed commands on connections of one server's pool; a
cluster would need one per node, and a slot map, MOVED/ASK and failover handling of its own,
which redis-py's `RedisCluster` keeps. Measured (bench/cluster.py, docs/deployment.md): a hit
costs ~2.4x the CPU of one on a single Redis this way; a prototype lane per node would save
~40 % of that — left for when a cluster deployment needs the CPU.

Every script keeps its keys in one hash slot (storage/keys.py: `{hash tags}`), so each runs on
one node. The one call that reads a key of another slot along — the limiter's script with the
cache entry, a cache hit's one round trip on a single Redis — becomes two here: the script,
then the GET, each on its own node and breaker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError, SlotNotCoveredError

from .breaker import CircuitBreaker
from .gateway import UNAVAILABLE, Gateway, Unavailable
from .scripts import ScriptCall

T = TypeVar("T")


class ClusterGateway(Gateway):
    """`Gateway` on a `RedisCluster`: breakers per node, no lane, scripts without reads across
    slots. `keyless` counts the calls that name no key (pipelines across slots, INFO of every
    primary) and those made before the client has learnt the cluster's slots. The shared
    `breaker` (/health, /readiness, the calls in flight cut off) opens only when the watch
    finds no primary answering (cluster_probe.py): a call that fails on one node must not take
    the instance out of rotation, nor cut off the calls to the others."""

    cluster = True
    # And RedisClusterException, which is no RedisError: no node answers, none serves the slot,
    # or the server is no cluster node (REDIS_CLUSTER=true on a single Redis: check-config says).
    failures = (RedisError, OSError, RedisClusterException)

    def __init__(
        self,
        redis: Redis | RedisCluster | None,
        *,
        timeout: float,
        pool_slots: int,
        breaker: CircuitBreaker | None = None,
        breakers: Callable[[], CircuitBreaker] = CircuitBreaker,
    ) -> None:
        client = cast(Redis | None, redis)
        super().__init__(client, timeout=timeout, pool_slots=pool_slots, breaker=breaker)
        self._new_breaker = breakers
        self.nodes: dict[str, CircuitBreaker] = {}  # node name ("host:port") → its breaker
        self.keyless = breakers()

    def breaker_for(self, key: str | bytes | None) -> CircuitBreaker:
        """The breaker of the node serving `key`'s slot, as the client last learnt the slots;
        `keyless` for no key, or while no node is known for the slot."""
        redis = cast(RedisCluster | None, self.redis)
        if key is None or redis is None:
            return self.keyless
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        try:
            name = redis.nodes_manager.get_node_from_slot(slot).name
        except SlotNotCoveredError:
            return self.keyless
        breaker = self.nodes.get(name)
        if breaker is None:
            breaker = self.nodes[name] = self._new_breaker()
        return breaker

    @property
    def available(self) -> bool:
        """Every call goes to Redis now: no breaker open, the shared one or that of a node
        still serving slots (with a master down, its keys are served from memory; one that a
        failover replaced is no longer asked, and its breaker no longer counts)."""
        redis = cast(RedisCluster | None, self.redis)
        if redis is None or self.breaker.is_open or self.keyless.is_open:
            return False
        serving = redis.nodes_manager.nodes_cache
        return not any(
            breaker.is_open and name in serving and serving[name].server_type == "primary"
            for name, breaker in self.nodes.items()
        )

    async def call(
        self, fn: Callable[[Redis], Awaitable[T]], what: str, *, key: str | bytes | None = None
    ) -> T | Unavailable:
        """`fn(redis)` on the pool, counted on the breaker of `key`'s node (`keyless` without
        a key)."""
        redis = self.redis
        breaker = self.breaker_for(key)
        if redis is None or breaker.is_open:
            return UNAVAILABLE
        return await self._pooled(redis, fn, what, breaker)

    async def _reconnect(self) -> None:
        """Nothing: `RedisCluster` follows MOVED replies to a failover's new primary itself, and
        its pools are per node."""

    async def get(self, key: str, what: str) -> bytes | Unavailable | None:
        return await self.call(lambda r: r.get(key), what, key=key)  # type: ignore[arg-type,return-value]

    async def script(
        self, call: ScriptCall, keys: Sequence[bytes], args: Sequence[bytes], what: str
    ) -> list[Any] | Unavailable:
        first = keys[0] if keys else None
        return await self.call(lambda r: call.run(r, keys, args), what, key=first)

    async def script_and_get(
        self,
        call: ScriptCall,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        get: bytes,
        what: str,
    ) -> tuple[list[Any], bytes | Unavailable | None] | Unavailable:
        """The script without its read, then GET `get`: two round trips, as `get` is in
        another slot. The value is UNAVAILABLE when its node is not answering (the caller
        falls back for it alone); no GET when the script's own node is not."""
        reply = await self.script(call.unread, keys, args, what)
        if reply is UNAVAILABLE:
            return UNAVAILABLE
        value = await self.call(lambda r: r.get(get), what, key=get)
        return reply, value if value is UNAVAILABLE or isinstance(value, bytes) else None
