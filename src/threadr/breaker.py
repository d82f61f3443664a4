"""How every Redis call is made: a deadline, a bound on calls in flight, and a circuit breaker
so that, with Redis down, requests fall back at once instead of each waiting for a timeout."""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from redis.asyncio import Redis
from redis.exceptions import MaxConnectionsError, RedisError

from .deadline import Deadlines
from .lane import Lane

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unavailable(enum.Enum):
    """What `CircuitBreaker.call` returns instead of an answer: use the in-process fallback."""

    REDIS = "redis"


UNAVAILABLE = Unavailable.REDIS


class Slots:
    """A counting semaphore whose uncontended acquire is one comparison. asyncio.Semaphore
    costs several coroutine frames and a generator per call, measurable on every cache hit."""

    def __init__(self, count: int) -> None:
        self.free = count
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # release() hands its slot straight to us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, but cancelled before using it: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class CircuitBreaker:
    """Closed → open after `threshold` consecutive failures; after `cooldown` seconds one caller
    is let through (half-open) to probe; a success closes it again."""

    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        max_concurrency: int = 64,
        timeout: float = 2.0,
    ) -> None:
        # Per Redis call, send and reply (the client sets no socket timeout itself).
        self._deadlines = Deadlines(timeout)
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        # At most as many calls in flight as the pool has connections: a burst waits here for
        # a free one instead of the pool raising (which would push exact limits into memory).
        self._slots = Slots(max_concurrency)

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        """True when a call to Redis should be attempted now."""
        if self._opened_at is None:
            return True
        if self._clock() - self._opened_at >= self.cooldown:
            # Half-open: let this caller probe, and push the next probe one cooldown away.
            self._opened_at = self._clock()
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self.threshold:
            self._opened_at = self._clock()

    async def call(
        self,
        redis: Redis | None,
        fn: Callable[[Redis], Awaitable[T]],
        what: str,
        *,
        lane: Lane | None = None,
        on_lane: Callable[[Lane], Awaitable[T]] | None = None,
    ) -> T | Literal[Unavailable.REDIS]:
        """`fn(redis)` on a pooled connection — or `on_lane(lane)` when a `lane` is given and has
        a free connection (it bounds its own) — or UNAVAILABLE when there is no Redis, the
        breaker is open, or the call fails (logged once here, counted towards opening)."""
        if redis is None or not self.allow():
            return UNAVAILABLE
        if lane is not None and on_lane is not None and lane.free:
            # No await between `free` and the call's start: the connection is still there.
            return await self._attempt(on_lane(lane), what)
        await self._slots.acquire()
        try:
            return await self._attempt(fn(redis), what)
        finally:
            self._slots.release()

    async def _attempt(self, call: Awaitable[T], what: str) -> T | Literal[Unavailable.REDIS]:
        try:
            result = await self._deadlines.run(call)  # TimeoutError is an OSError
        except MaxConnectionsError as exc:
            # Our own pool is full, not a Redis fault: fall back for this call, count nothing.
            log.warning("Redis pool exhausted (%s: %r); using the in-process fallback", what, exc)
            return UNAVAILABLE
        except (RedisError, OSError) as exc:
            self.failure()
            log.warning("Redis failed (%s: %r); using the in-process fallback", what, exc)
            return UNAVAILABLE
        self.success()
        return result
