"""Counters shared by every instance: counted in process, flushed to Redis hashes (HINCRBY, one
pipeline; one per key on Redis Cluster) every FLUSH_SECONDS and at shutdown, so that counting
costs the hot path no round trip and no more than the attribute increment it already did
(docs/performance.md).

Sources that count on a hot path keep plain integers and are harvested at each flush (a
`Harvest` callback turns what they counted since the last one into `add` calls); anything else
calls `add` directly. Usage analytics (issue #12, analytics/counts.py) adds per-day keys with a
TTL, and HyperLogLog members (`pfadd`) sent in the same pipeline.
A crash loses at most one interval's counts; with Redis down the deltas wait in process for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .gateway import UNAVAILABLE, Gateway

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0  # how far behind the shared counts may run, and what a crash may lose
# HyperLogLog members kept per key while Redis is away: beyond this, new members are dropped
# (a unique count then reads low) rather than let an outage grow the process without bound.
MAX_PENDING_MEMBERS = 50_000
Harvest = Callable[["Counters"], None]
Pending = dict[tuple[str, str], int]  # (hash key, field) → delta


class Counters:
    """Deltas per (hash key, field) waiting to be added to Redis."""

    def __init__(self, gateway: Gateway, *, interval: float = FLUSH_SECONDS) -> None:
        self.gateway = gateway
        self.interval = interval
        self._pending: Pending = {}
        self._ttls: dict[str, int] = {}
        self._members: dict[str, set[str]] = {}
        self._harvests: list[Harvest] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def add(self, key: str, field: str, n: int = 1, *, ttl: int | None = None) -> None:
        """Count `n` more under `key`'s `field`; a key given a `ttl` expires that many seconds
        after its latest flush (for per-day analytics keys)."""
        if n:
            self._pending[key, field] = self._pending.get((key, field), 0) + n
        if ttl is not None:
            self._ttls[key] = ttl

    def pfadd(self, key: str, members: set[str], *, ttl: int | None = None) -> None:
        """Add `members` to the HyperLogLog at `key` with the next flush."""
        if members:
            held = self._members.setdefault(key, set())
            room = MAX_PENDING_MEMBERS - len(held)
            if len(members) <= room:
                held |= members
            else:
                held.update(list(members)[: max(room, 0)])
        if ttl is not None:
            self._ttls[key] = ttl

    def harvest(self, fn: Harvest) -> None:
        """Call `fn(self)` before every flush, to collect what a hot path counted in process."""
        self._harvests.append(fn)

    @property
    def pending(self) -> Pending:
        """The deltas not yet in Redis (a copy)."""
        return dict(self._pending)

    async def flush(self) -> bool:
        """Send every pending delta in one pipeline; on failure keep them for the next flush.
        True when nothing is left pending."""
        for fn in self._harvests:
            fn(self)
        if not self._pending and not self._members:
            self._ttls.clear()
            return True
        if not self.gateway.configured:
            # No Redis to share with: the in-process counts are all.
            self._pending.clear()
            self._members.clear()
            self._ttls.clear()
            return True
        pending, ttls, members = self._pending, self._ttls, self._members
        self._pending, self._ttls, self._members = {}, {}, {}
        if not self.gateway.cluster:
            return await self._send(pending, ttls, members)
        # Redis Cluster: a pipeline per key, on its node and breaker. One across nodes fails
        # whole when one master is down, after the others applied their part: sent again, that
        # part would count twice every second; this way only the dead master's keys wait.
        batches: dict[str, tuple[Pending, dict[str, int], dict[str, set[str]]]] = {}
        for item, n in pending.items():
            batches.setdefault(item[0], ({}, {}, {}))[0][item] = n
        for key, ttl in ttls.items():
            batches.setdefault(key, ({}, {}, {}))[1][key] = ttl
        for key, added in members.items():
            batches.setdefault(key, ({}, {}, {}))[2][key] = added
        sent = await asyncio.gather(
            *(self._send(*batch, key=key) for key, batch in batches.items())
        )
        return all(sent)

    async def _send(
        self,
        pending: Pending,
        ttls: dict[str, int],
        members: dict[str, set[str]],
        *,
        key: str | None = None,
    ) -> bool:
        """One pipeline of these deltas (all of `key`'s, on a cluster); on failure they go back
        in front of whatever was counted meanwhile."""

        async def send(redis: Redis) -> Any:
            pipe = redis.pipeline(transaction=False)
            for (name, field), n in pending.items():
                pipe.hincrby(name, field, n)
            for name, added in members.items():
                pipe.pfadd(name, *added)
            for name, ttl in ttls.items():
                pipe.expire(name, ttl)
            # A command Redis refuses (a key of another type, an overflow) comes back in its
            # place instead of raising: the others were applied, so the whole batch must not
            # be sent again, and one bad key must not count against the breaker every second.
            replies = await pipe.execute(raise_on_error=False)
            for reply in replies:
                # A node that did not answer, returned in place too by a cluster's pipeline:
                # that is Redis away, not a refusal.
                if isinstance(reply, RedisConnectionError | RedisTimeoutError):
                    raise reply
            return replies

        replies = await self.gateway.call(send, "counters flush", key=key)
        if replies is not UNAVAILABLE:
            refused = [r for r in replies if isinstance(r, Exception)]
            if refused:
                self.gateway.errors["refused"] += len(refused)
                log.warning("Redis refused %d counter update(s): %r", len(refused), refused[0])
            return True
        # Redis away: back in front of whatever was counted meanwhile. A reply lost after Redis
        # applied the pipeline would count twice: rare (a timeout after the write), and bounded.
        for item, n in pending.items():
            self._pending[item] = self._pending.get(item, 0) + n
        for name, ttl in ttls.items():
            self._ttls.setdefault(name, ttl)
        for name, added in members.items():
            self.pfadd(name, added)
        return False

    async def start(self) -> None:
        """Flush every `interval` seconds until `aclose`."""
        self._task = asyncio.create_task(self._run(), name="threadr counters flush")

    async def aclose(self) -> None:
        """Stop the timer and flush what is left (shutdown). The timer is stopped, not
        cancelled, so that a flush under way is not cut off with its deltas in hand."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if not await self.flush():
            lost = sum(self._pending.values()) + sum(map(len, self._members.values()))
            log.warning("Redis is away at shutdown: %d shared counts are lost", lost)

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._stop.wait()
            try:
                await self.flush()
            except Exception:  # a bug here must not stop counting for the process's lifetime
                log.exception("Flushing the shared counters failed")
