"""The watch on Redis: one cheap probe, a PING on a connection of its own, that closes the circuit
breaker (breaker.py) once Redis answers again and opens it when Redis is hung. /health,
/readiness and the metrics read the same breaker, so they say what every store is doing.

When it probes, at most every PROBE_SECONDS: while the circuit is open (until the first answer);
while a call has been waiting on Redis for STALL_SECONDS (so a hung Redis is seen in well under a
second, where the call's own deadline is REDIS_TIMEOUT_SECONDS; the probe's failure cuts every
call in flight off); and every HEARTBEAT_SECONDS anyway, for a process without traffic. A
healthy, busy process sends one PING a heartbeat: the calls themselves find a Redis gone (the
first that fails opens the circuit).

On Redis Cluster (cluster.py) the calls alone open the breakers, one per node, and the watch
closes each: the open ones are probed every PROBE_SECONDS, CLUSTER INFO to their node, which
must say `cluster_state:ok` (a node of a cluster that is down answers PING, but no key). A
probe that fails opens nothing there, where one node's failure must not cut off the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import cast

from redis.asyncio import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from .cluster import ClusterGateway
from .gateway import Gateway, describe

log = logging.getLogger(__name__)

# How often the watch probes at most, and a PING's timeout on a live connection (at most
# REDIS_TIMEOUT_SECONDS): a hung Redis is seen within two STALL_SECONDS and one of these (or two,
# just after another probe), a Redis back within one.
PROBE_SECONDS = 0.25
# A call in flight this long has the watch PING (at most PROBE_SECONDS): a command Redis
# answers takes a millisecond or a few, not a tenth of a second.
STALL_SECONDS = 0.1
# With the circuit closed, how often an idle process PINGs anyway (Upstash counts commands).
HEARTBEAT_SECONDS = 5.0


class RedisWatch:
    """Probes Redis for the gateway's breaker; `connected` and `status` are the breaker's."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        interval: float = PROBE_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.gateway = gateway
        self.redis = gateway.redis
        self.breaker = gateway.breaker
        self.interval = interval
        self.heartbeat = heartbeat
        self.timeout = min(gateway.timeout, interval)
        self.stall = min(STALL_SECONDS, self.timeout)
        self._conn: AbstractConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._announced = False  # "connection established" said once: a later loss is "lost"
        self._stale = False  # the circuit opened since the last probe: reconnect before the next
        self._opened_at = 0.0
        self.breaker.listen(self._changed)

    @property
    def connected(self) -> bool:
        """A configured Redis is in use: the circuit is closed. (On a cluster, the shared one:
        a master down takes its own keys to memory, not the instance out of rotation.)"""
        return self.redis is not None and not self.breaker.is_open

    @property
    def status(self) -> str:
        if self.redis is None:
            return "not_configured"
        return "disconnected" if self.breaker.is_open else "connected"

    async def check(self) -> bool:
        """PING now: an answer closes the circuit, none (or an error) opens it."""
        if self.redis is None:
            return False
        if self.gateway.cluster:
            return await self._check_cluster()
        conn = self._conn
        if conn is None:
            # The pool's kind of connection (TLS, AUTH, SELECT as configured), outside the pool:
            # the probe never waits for a pool connection, nor takes one from the calls.
            conn = self._conn = self.redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
            conn.retry = Retry(NoBackoff(), 0)  # one attempt: the next probe is the retry
        if self._stale:
            # Whatever opened the circuit, the answer that closes it comes on a new connection:
            # to wherever REDIS_URL leads now (a failover), not to a server that is gone.
            self._stale = False
            await conn.disconnect()
        # A PING on a live connection gets the short timeout; making one (TCP, TLS, AUTH), and
        # any probe while the circuit is open (nobody waits for it, and a slow answer still
        # says Redis is there), the whole Redis timeout.
        reused = conn.is_connected
        short = reused and not self.breaker.is_open
        try:
            async with asyncio.timeout(self.timeout if short else self.gateway.timeout):
                try:
                    await _ping(conn)
                except RedisConnectionError:
                    if not reused:
                        raise
                    # Closed while idle (a restart, CLIENT KILL, a proxy's idle timeout):
                    # redis-py has closed it too; once more on a new one, as the lane does.
                    await _ping(conn)
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            await conn.disconnect()  # the next probe starts afresh (LOADING, a reset)
            self.breaker.open(f"PING: {describe(exc)}")
            return False
        self.breaker.close()
        return True

    async def _check_cluster(self) -> bool:
        """Close what answers: the shared breaker at a PING to any node (which also has the
        client learn the cluster, at start-up), a node's when that node serves keys again."""
        redis = cast(RedisCluster, self.redis)
        failures = (RedisError, OSError, RedisClusterException)
        try:
            async with asyncio.timeout(self.gateway.timeout):
                await redis.ping(target_nodes=RedisCluster.RANDOM)
        except failures as exc:
            self.breaker.open(f"PING: {describe(exc)}")
            return False
        self.breaker.close()
        assert isinstance(self.gateway, ClusterGateway)
        silent = False
        for name, breaker in list(self.gateway.nodes.items()):
            node = redis.get_node(node_name=name)
            if not breaker.is_open or node is None:
                continue
            try:
                async with asyncio.timeout(self.gateway.timeout):
                    info = await node.execute_command("CLUSTER INFO")
            except failures:
                silent = True
                continue
            if _cluster_ok(info):
                breaker.close()
        if silent:
            # A node that does not answer may have been failed over: no call is sent to it
            # while its breaker is open, so none would bring back the MOVED that has the client
            # learn the slots anew. Learn them here: its keys go to the promoted replica, and
            # its breaker counts no more (ClusterGateway.available).
            with contextlib.suppress(*failures):
                async with asyncio.timeout(self.gateway.timeout):
                    await redis.nodes_manager.initialize()
        return self.connected

    def _changed(self, is_open: bool) -> None:
        if is_open:
            self._stale = True
            self._opened_at = time.monotonic()
            if self._announced:
                log.warning(
                    "Redis connection lost (%s); falling back to in-memory stores",
                    self.breaker.reason,
                )
        else:
            log.info(
                "Redis connection established successfully (unreachable for %.2f s)",
                time.monotonic() - self._opened_at,
            )
            self._announced = True

    async def start(self) -> None:
        if self.redis is None:
            return
        if await self.check():
            log.info("Redis connection established successfully")
            self._announced = True
        else:
            log.warning(
                "Redis connection failed (%s); falling back to in-memory operations",
                self.breaker.reason,
            )
        self._task = asyncio.create_task(self._run(), name="threadr-redis-watch")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        beat = loop.time() + self.heartbeat
        probe = loop.time()  # no probe before this: one per interval at most
        gateway, breaker = self.gateway, self.breaker
        # It looks every STALL_SECONDS (a timer and a min() over the calls in flight, no
        # command), so that a stalled call is seen within two of them.
        tick = min(self.interval, self.stall)
        while not self._stopping:  # see stop()
            if breaker.is_open and not gateway.cluster:
                await asyncio.sleep(max(probe - loop.time(), 0.0))  # the next probe, on time
            else:
                await asyncio.sleep(tick)
            now = loop.time()
            if gateway.cluster:  # the calls open its breakers: only the open ones are probed
                due = now >= probe and not gateway.available
            else:
                wanted = breaker.is_open or gateway.stalled(self.stall)
                due = (now >= probe and wanted) or now >= beat
            if due:
                try:
                    await self.check()
                except Exception:  # a bug here must not leave the circuit open for good
                    log.exception("Probing Redis failed")
                probe = loop.time() + self.interval
                beat = probe - self.interval + self.heartbeat

    async def stop(self) -> None:
        if self._task is not None:
            # The flag, not only the cancel, ends the loop: a cancel that lands as a probe's
            # reply arrives can be swallowed below us, and the loop would go on for ever.
            self._stopping = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._conn is not None:
            await self._conn.disconnect()


def _cluster_ok(info: object) -> bool:
    """CLUSTER INFO (parsed by redis-py, or raw) says the node serves keys."""
    if isinstance(info, dict):
        return str(info.get("cluster_state")) == "ok"
    raw = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in raw


async def _ping(conn: AbstractConnection) -> None:
    await conn.send_command("PING")
    await conn.read_response()
