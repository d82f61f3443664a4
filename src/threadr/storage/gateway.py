"""How every Redis call travels: a cache read or a hot script call (the one command of every
cache hit) on the lane when it has a free connection (lane.py), everything else on the client's
pool behind a bound on calls in flight; all under one deadline (deadline.py) and one circuit
breaker (breaker.py), so that with Redis down or slow a call answers UNAVAILABLE — use the
in-process fallback — instead of an error or a hang. Stores call `get`, `script` or `call` and
never see a connection or a packed byte. On Redis Cluster, `ClusterGateway` (cluster.py) takes
its place: no lane, a breaker per node.

What opens a circuit: a call that finds Redis unreachable (connection refused or reset, no
answer by its deadline) or answering READONLY (a replica, after a failover moved the primary
elsewhere: the idle connections are dropped, so that the next ones are made afresh). A reply
Redis refused (a script's error, a wrong type, OOM) fails that call alone. Opening the shared
breaker cuts off the calls in flight at once; the watch (watch.py) closes it again."""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    MaxConnectionsError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from threadr.config import Settings
from threadr.errors import ServiceUnavailable

from .breaker import CircuitBreaker
from .client import split_connections
from .deadline import Deadlines
from .lane import Lane, command
from .scripts import Script, ScriptCall

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unavailable(enum.Enum):
    """What the gateway returns instead of an answer: use the in-process fallback."""

    REDIS = "redis"


UNAVAILABLE = Unavailable.REDIS
# Retry-After of a 503 for want of Redis: the watch probes it four times a second (watch.py).
RETRY_AFTER_SECONDS = 1


def describe(exc: BaseException) -> str:
    """`ConnectionError: Error 111 connecting …`: redis-py 8's repr() leaves the message out."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def error_kind(exc: BaseException) -> str:
    """A failed call's kind, as threadr_redis_errors_total labels it."""
    if isinstance(exc, TimeoutError | RedisTimeoutError):
        return "timeout"
    if isinstance(exc, RedisConnectionError | OSError | RedisClusterException):
        return "connection"  # the last: no cluster node answers, or none serves the slot
    if isinstance(exc, ReadOnlyError):
        return "readonly"  # a replica: the primary is elsewhere now (a failover)
    if isinstance(exc, ClusterDownError):
        return "cluster_down"  # CLUSTERDOWN, MASTERDOWN: the node serves no key until it heals
    return "other"  # a reply Redis refused (a script's error, a wrong type, OOM …)


class Slots:
    """A counting semaphore whose uncontended acquire is one comparison. asyncio.Semaphore
    costs several coroutine frames and a generator per call, measurable on every cache hit."""

    def __init__(self, count: int) -> None:
        self.free = count
        # In order of arrival; a dict so that a cancelled waiter leaves in O(1) (a deadline
        # cancels a whole queue in one tick).
        self._waiters: collections.OrderedDict[asyncio.Future[None], None] = (
            collections.OrderedDict()
        )

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[waiter] = None
        try:
            await waiter  # release() hands its slot straight to us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, but cancelled before using it: pass it on
            else:
                self._waiters.pop(waiter, None)  # gone already if a release passed over it
            raise

    def try_acquire(self) -> bool:
        """Take a free slot if one is there and nobody queues for it (no wait)."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    def release(self) -> None:
        while self._waiters:
            waiter, _ = self._waiters.popitem(last=False)
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class Gateway:
    """The one way to Redis for every store; `redis=None` (not configured) answers UNAVAILABLE."""

    cluster = False  # a Redis Cluster (cluster.py): the stores split what one slot cannot hold
    # What a failed call raises: it falls back and counts on the breaker (read only then).
    failures: tuple[type[Exception], ...] = (RedisError, OSError)

    def __init__(
        self,
        redis: Redis | None,
        *,
        timeout: float,
        pool_slots: int,
        lane: Lane | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.redis = redis
        self.lane = lane
        self.timeout = timeout
        # One breaker for every store: when Redis is down, all of them skip it at once.
        self.breaker = breaker or CircuitBreaker()
        # Per call, send and reply (the client sets no socket timeout itself: client.py).
        self._deadlines = Deadlines(timeout)
        self.breaker.listen(self._circuit_changed)
        # At most as many pool calls in flight as the pool has connections: a burst waits here
        # for a free one instead of the pool raising (which would push exact limits into memory),
        # the wait counting against the call's deadline (_queued).
        self._slots = Slots(pool_slots)
        # Failed calls since start by kind (error_kind), for /metrics: counted where they are
        # caught, so a call that succeeds pays nothing for it.
        self.errors: collections.defaultdict[str, int] = collections.defaultdict(int)
        self.demoted = False  # a call was answered READONLY since the watch last saw a primary

    @classmethod
    def for_settings(cls, settings: Settings, redis: Redis | None) -> Gateway:
        """A process's gateway: REDIS_MAX_CONNECTIONS split between the lane (the cache hit's one
        command, cache reads) and the pool (everything else), so the two never hold more
        together."""
        timeout = settings.redis_timeout_seconds
        if isinstance(redis, RedisCluster):
            from .cluster import ClusterGateway  # here: cluster.py subclasses Gateway

            return ClusterGateway(redis, pool_slots=settings.redis_max_connections, timeout=timeout)
        lane_size, pool_size = split_connections(settings.redis_max_connections)
        lane = Lane(redis, lane_size) if redis is not None and lane_size else None
        return cls(redis, lane=lane, pool_slots=pool_size, timeout=timeout)

    async def aclose(self) -> None:
        """Close the lane's connections (the client, and so the pool, belongs to its maker)."""
        if self.lane is not None:
            await self.lane.aclose()

    @property
    def configured(self) -> bool:
        """A Redis is configured (whether or not it answers)."""
        return self.redis is not None

    def refused(self, feature: str) -> ServiceUnavailable:
        """The 503 of a write (or a read) that must reach Redis and cannot: `feature` names what
        needs it ("Accounts need", "Email subscriptions need"). With Retry-After when a
        configured Redis is unreachable; without it when none is configured (retrying will not
        help)."""
        if self.redis is None:
            return ServiceUnavailable(
                f"{feature} a database, and this server has none configured "
                "(REDIS_URL is not set).",
                code="storage_not_configured",
            )
        wait = RETRY_AFTER_SECONDS
        return ServiceUnavailable(
            "Our database is unreachable just now; please try again in a second.",
            code="storage_unavailable",
            headers={"Retry-After": str(wait)},
        )

    @property
    def available(self) -> bool:
        """Calls go to Redis now: it is configured and the breaker is closed."""
        return self.redis is not None and not self.breaker.is_open

    def stalled(self, age: float) -> bool:
        """Some call has waited `age` seconds or more for Redis (the watch's cue to probe it)."""
        return self._deadlines.stalled(age)

    def _circuit_changed(self, is_open: bool) -> None:
        if is_open:
            # The calls in flight would each wait out their deadline on a Redis known to be
            # away (a hung one: REDIS_TIMEOUT_SECONDS): they fall back now instead.
            self._deadlines.expire_all()

    # Each entry point opens with the same three-line check rather than a shared helper: it runs
    # on every cache hit, and a call there is measurable (bench/callcount.py).

    async def call(
        self, fn: Callable[[Redis], Awaitable[T]], what: str, *, key: str | bytes | None = None
    ) -> T | Unavailable:
        """`fn(redis)` on a pooled connection: any redis-py command or pipeline. `key`, one of
        the keys it touches (all in one hash slot), names the Redis Cluster node whose breaker
        it counts on; a single Redis has one breaker and ignores it."""
        redis = self.redis
        if redis is None or self.breaker.is_open:
            return UNAVAILABLE
        return await self._pooled(redis, fn, what, self.breaker)

    async def set(self, key: str, value: bytes, ttl: int, what: str) -> bool | Unavailable:
        """SET `key` to `value`, expiring in `ttl` seconds."""
        return await self.call(lambda r: r.set(key, value, ex=ttl), what, key=key)  # type: ignore[arg-type,return-value]

    async def delete(self, key: str, what: str) -> int | Unavailable:
        """DEL `key`: how many keys were removed."""
        return await self.call(lambda r: r.delete(key), what, key=key)

    async def mget(self, keys: Sequence[bytes], what: str) -> list[bytes | None] | Unavailable:
        """MGET `keys` (all in one hash slot, for Redis Cluster)."""
        return await self.call(lambda r: r.mget(keys), what, key=keys[0] if keys else None)  # type: ignore[arg-type,return-value]

    async def get(self, key: str, what: str) -> bytes | Unavailable | None:
        """GET `key` (bytes, or None when absent)."""
        redis = self.redis
        if redis is None or self.breaker.is_open:
            return UNAVAILABLE
        lane = self.lane
        if lane is not None and lane.free:
            # No await between `free` and the call's start: the connection is still there.
            return await self._attempt(
                lane.execute(command(b"GET", key.encode())), what, self.breaker
            )
        # No decode_responses on this client: a value is bytes.
        return await self._pooled(redis, lambda r: r.get(key), what, self.breaker)  # type: ignore[arg-type,return-value]

    async def script(
        self, call: ScriptCall, keys: Sequence[bytes], args: Sequence[bytes], what: str
    ) -> list[Any] | Unavailable:
        """Run `call`'s script with these keys and arguments (its constant tail follows); the
        reply is the array our scripts return."""
        redis = self.redis
        if redis is None or self.breaker.is_open:
            return UNAVAILABLE
        lane = self.lane
        if call.hot and lane is not None and lane.free:
            return await self._attempt(call.run_on(lane, keys, args), what, self.breaker)
        return await self._pooled(redis, lambda r: call.run(r, keys, args), what, self.breaker)

    async def script_and_get(
        self,
        call: ScriptCall,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        get: bytes,
        what: str,
    ) -> tuple[list[Any], bytes | Unavailable | None] | Unavailable:
        """`script`, and GET `get` in the same round trip: the script's reply and the value.

        The scripts that offer this read a key passed after their own as the last element of
        their reply (`call` counts it among its keys); a wrong-type key reads as None. (On a
        cluster, two calls: the value is UNAVAILABLE when only the script's node answered.)"""
        reply = await self.script(call, (*keys, get), args, what)
        if reply is UNAVAILABLE:
            return UNAVAILABLE
        value = reply.pop()
        return reply, value if isinstance(value, bytes) else None

    async def load(self, *scripts: Script) -> None:
        """Register scripts at start-up (saves the first requests sending the source). A failure
        is harmless (EVAL after NOSCRIPT covers it), so it is skipped, never raised."""
        redis = self.redis
        if redis is None:
            return
        try:
            async with asyncio.timeout(self._deadlines.timeout):
                for script in scripts:
                    await script.load(redis)
        except (RedisError, OSError) as exc:
            log.info("Lua scripts not registered at start-up (%r); EVAL will register them", exc)

    async def _pooled(
        self,
        redis: Redis,
        fn: Callable[[Redis], Awaitable[T]],
        what: str,
        breaker: CircuitBreaker,
    ) -> T | Unavailable:
        slots = self._slots
        if slots.try_acquire():
            try:
                # The call is made only once it has a slot.
                return await self._attempt(fn(redis), what, breaker)
            finally:
                slots.release()
        return await self._queued(redis, fn, what, breaker)

    async def _queued(
        self,
        redis: Redis,
        fn: Callable[[Redis], Awaitable[T]],
        what: str,
        breaker: CircuitBreaker,
    ) -> T | Unavailable:
        """A pool call that must wait for a slot. The wait and the command share the one
        deadline: with Redis hung, a queue of calls on a few slots would otherwise be served
        a timeout at a time (20 calls on 2 slots took ten timeouts). A call whose wait saw
        the breaker open does not add itself to the Redis that opened it (opening cuts the
        queue off anyway, but a slot can be handed over in that same instant)."""
        slots, deadlines = self._slots, self._deadlines
        sent = False

        async def wait_then_send() -> T | Unavailable:
            nonlocal sent
            await slots.acquire()
            try:
                # Not sent when the breaker is open, nor with its deadline all but spent in the
                # queue: the deadline's tick could otherwise let a queued call reach a hung
                # Redis in the instant between its neighbours' timeouts and its own.
                if breaker.is_open or deadlines.nearly_out():
                    return UNAVAILABLE
                sent = True
                return await fn(redis)
            finally:
                slots.release()

        return await self._attempt(wait_then_send(), what, breaker, reached=lambda: sent)

    async def _attempt(
        self,
        call: Awaitable[T],
        what: str,
        breaker: CircuitBreaker,
        *,
        reached: Callable[[], bool] = lambda: True,
    ) -> T | Unavailable:
        """Run `call` under one deadline; only a failure of a call that `reached` Redis says
        anything of Redis, to `breaker`. A success reports nothing (only the watch closes a
        circuit), so that it costs the cache hit nothing."""
        try:
            return await self._deadlines.run(call)  # TimeoutError is an OSError
        except MaxConnectionsError as exc:
            # Our own pool is full, not a Redis fault: fall back for this call, count nothing.
            self.errors["pool_full"] += 1
            log.warning("Redis pool exhausted (%s: %r); using the in-process fallback", what, exc)
            return UNAVAILABLE
        except self.failures as exc:
            if not reached():
                # Out of time in the slot queue (or cut off there as the circuit opened): the
                # pool is busy, which says nothing of Redis (the calls in flight report on it).
                if not breaker.is_open:
                    self.errors["queue_timeout"] += 1
                    log.warning("No Redis connection free in time (%s); using the fallback", what)
                return UNAVAILABLE
            kind = error_kind(exc)
            self.errors[kind] += 1
            if kind == "other":
                log.warning("Redis refused a call (%s: %s); using the fallback", what, exc)
            elif not breaker.is_open:
                # The first to fail says so; the calls it cuts off (and any failing meanwhile)
                # are counted, not logged, one by one.
                reason = f"{what}: {describe(exc)}"
                log.warning("Redis failed (%s); using the in-process fallback", reason)
                breaker.open(reason)
            if kind == "readonly":
                # The watch then closes the circuit only once the address leads to a primary
                # again (ROLE), not at the first PING a replica answers: that would flap.
                self.demoted = True
                await self._reconnect()
            return UNAVAILABLE

    async def _reconnect(self) -> None:
        """Drop every idle connection (those in use are cut off as the circuit opens), so that
        the next ones are made afresh, to wherever the primary's address now leads. (A cluster
        client follows its nodes' MOVED replies itself: cluster.py leaves this out.)"""
        assert self.redis is not None
        await self.redis.connection_pool.disconnect(inuse_connections=False)
        if self.lane is not None:
            await self.lane.disconnect()
