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
closes each: while one is open, every PROBE_SECONDS, cluster_probe.py asks every primary at
once; the shared breaker opens only when none answers (one node's failure must not cut off
the others).
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from .cluster import ClusterGateway
from .cluster_probe import ClusterProbe
from .gateway import Gateway, describe

log = logging.getLogger(__name__)

# How often the watch probes at most: a Redis back is seen within one of these.
PROBE_SECONDS = 0.25
# How long a PING on a live connection may wait before Redis counts as hung (at most half of
# REDIS_TIMEOUT_SECONDS, so the calls cut off still fall back before their own deadline): long
# enough for a far Redis (a few hundred ms a round trip) or a short pause (a fork, an fsync),
# which a shorter one took for a hang and flapped on; short enough that a hang is seen within
# a second (a stall of STALL_SECONDS, a tick, this).
PING_SECONDS = 0.75
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
        self.timeout = min(gateway.timeout / 2, PING_SECONDS)
        self.stall = min(STALL_SECONDS, self.timeout)
        self._conn: AbstractConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._announced = False  # "connection established" said once: a later loss is "lost"
        self._stale = False  # the circuit opened since the last probe: reconnect before the next
        self._opened_at = 0.0
        self._cluster = ClusterProbe(gateway) if isinstance(gateway, ClusterGateway) else None
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
        if self._cluster is not None:
            return await self._cluster.check()
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
        # After a READONLY, ROLE instead of PING: a replica answers PING, and closing on it
        # would send the writes back to be refused, again and again.
        demoted = self.gateway.demoted
        command = "ROLE" if demoted else "PING"
        # A probe on a live connection gets the short timeout; making one (TCP, TLS, AUTH), and
        # any probe while the circuit is open (nobody waits for it, and a slow answer still
        # says Redis is there), the whole Redis timeout.
        reused = conn.is_connected
        short = reused and not self.breaker.is_open
        try:
            try:
                async with asyncio.timeout(self.timeout if short else self.gateway.timeout):
                    reply = await _ask(conn, command)
            except RedisConnectionError:
                if not reused:
                    raise
                # Closed while idle (a restart, CLIENT KILL, a proxy's idle timeout): redis-py
                # has closed it too; once more on a new one, as the lane does, with the time a
                # new connection needs.
                async with asyncio.timeout(self.gateway.timeout):
                    reply = await _ask(conn, command)
            if demoted and not _primary(reply):
                raise RedisError("ROLE: still a replica")
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            await conn.disconnect()  # the next probe starts afresh (LOADING, a reset)
            self.breaker.open(f"{command}: {describe(exc)}")
            return False
        self.gateway.demoted = False
        self.breaker.close()
        return True

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
            try:
                now = loop.time()
                if gateway.cluster:  # the calls open its breakers: only open ones are probed
                    due = now >= probe and not gateway.available
                else:
                    wanted = breaker.is_open or gateway.stalled(self.stall)
                    due = (now >= probe and wanted) or now >= beat
                if due:
                    await self.check()
            except Exception:  # a bug here must not end the watch, and the circuit stay open
                log.exception("Probing Redis failed")
                due = True
            if due:
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


async def _ask(conn: AbstractConnection, command: str) -> object:
    await conn.send_command(command)
    try:
        return await conn.read_response()
    except ResponseError:
        # A server without ROLE (some managed Redis rename or refuse it): it answered, which
        # is all a PING would have said.
        return None


def _primary(role: object) -> bool:
    """ROLE's reply names a primary (or the server has no ROLE to say otherwise)."""
    if not isinstance(role, list) or not role:
        return True
    kind = role[0]
    return (kind.decode() if isinstance(kind, bytes) else str(kind)) == "master"
