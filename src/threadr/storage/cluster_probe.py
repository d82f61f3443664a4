"""The watch's probe on Redis Cluster (watch.py runs it while some breaker is open).

Every primary is asked at once (a hung one must not delay the verdict on the others): the
shared breaker — the one /health and /readiness read — opens only when no primary answers,
since a master down takes only its own keys to memory; the breaker of the calls that name no
key closes only when every primary answers (they span the cluster); a node's closes when
CLUSTER INFO says it serves keys again (a node of a cluster that is down answers PING, but no
key)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import cast

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import RedisClusterException, RedisError

from .cluster import ClusterGateway
from .gateway import describe

FAILURES = (RedisError, OSError, RedisClusterException)
# How often, at most, the client learns the slots anew while a node is silent: a whole round of
# CLUSTER SLOTS, which a probe every 250 ms would otherwise repeat as long as the node is away.
RELEARN_SECONDS = 1.0


class ClusterProbe:
    def __init__(self, gateway: ClusterGateway) -> None:
        self.gateway = gateway
        self._learnt_at = 0.0

    async def check(self) -> bool:
        """Probe the cluster, open or close the breakers by what answered; whether any
        primary answered."""
        gateway = self.gateway
        redis = cast(RedisCluster, gateway.redis)
        try:
            async with asyncio.timeout(gateway.timeout):
                await redis.initialize()  # learns the cluster at start-up; at once afterwards
        except FAILURES as exc:
            gateway.breaker.open(f"cluster: {describe(exc)}")
            return False
        primaries = redis.get_primaries()
        answers = await asyncio.gather(*(self._ask(node, "PING") for node in primaries))
        if not any(isinstance(a, bool) and a for a in answers):
            gateway.breaker.open("PING: no primary answered")
            return False
        gateway.breaker.close()
        if all(answer is not None for answer in answers):
            gateway.keyless.close()
        await self._close_nodes(redis)
        return True

    async def _close_nodes(self, redis: RedisCluster) -> None:
        opened = [
            (breaker, node)
            for name, breaker in list(self.gateway.nodes.items())
            if breaker.is_open and (node := redis.get_node(node_name=name)) is not None
        ]
        infos = await asyncio.gather(*(self._ask(node, "CLUSTER INFO") for _, node in opened))
        for (breaker, _), info in zip(opened, infos, strict=True):
            if info is not None and _cluster_ok(info):
                breaker.close()
        now = time.monotonic()
        if any(info is None for info in infos) and now - self._learnt_at >= RELEARN_SECONDS:
            # A node that does not answer may have been failed over: no call is sent to it
            # while its breaker is open, so none would bring back the MOVED that has the client
            # learn the slots anew. Learn them here: its keys go to the promoted replica, and
            # its breaker counts no more (ClusterGateway.available).
            self._learnt_at = now
            with contextlib.suppress(*FAILURES):
                async with asyncio.timeout(self.gateway.timeout):
                    await redis.nodes_manager.initialize()

    async def _ask(self, node: ClusterNode, command: str) -> object | None:
        """`command`'s reply from `node`, or None when it does not answer in time."""
        try:
            async with asyncio.timeout(self.gateway.timeout):
                reply: object = await node.execute_command(command)
                return reply
        except FAILURES:
            return None


def _cluster_ok(info: object) -> bool:
    """CLUSTER INFO (parsed by redis-py, or raw) says the node serves keys."""
    if isinstance(info, dict):
        return str(info.get("cluster_state")) == "ok"
    raw = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in raw
