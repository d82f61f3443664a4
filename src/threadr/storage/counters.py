"""Counters shared by every instance: counted in process, flushed to Redis hashes (HINCRBY, one
pipeline) every FLUSH_SECONDS and at shutdown, so that counting costs the hot path no round trip
and no more than the attribute increment it already did (docs/performance.md).

Sources that count on a hot path keep plain integers and are harvested at each flush (a
`Harvest` callback turns what they counted since the last one into `add` calls); anything else
calls `add` directly. Usage analytics (issue #12) extends this with per-day keys and a TTL.
A crash loses at most one interval's counts; with Redis down the deltas wait in process for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .gateway import UNAVAILABLE, Gateway

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0  # how far behind the shared counts may run, and what a crash may lose
Harvest = Callable[["Counters"], None]


class Counters:
    """Deltas per (hash key, field) waiting to be added to Redis."""

    def __init__(self, gateway: Gateway, *, interval: float = FLUSH_SECONDS) -> None:
        self.gateway = gateway
        self.interval = interval
        self._pending: dict[tuple[str, str], int] = {}
        self._ttls: dict[str, int] = {}
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

    def harvest(self, fn: Harvest) -> None:
        """Call `fn(self)` before every flush, to collect what a hot path counted in process."""
        self._harvests.append(fn)

    @property
    def pending(self) -> dict[tuple[str, str], int]:
        """The deltas not yet in Redis (a copy)."""
        return dict(self._pending)

    async def flush(self) -> bool:
        """Send every pending delta in one pipeline; on failure keep them for the next flush.
        True when nothing is left pending."""
        for fn in self._harvests:
            fn(self)
        if not self._pending:
            return True
        if not self.gateway.configured:
            self._pending.clear()  # no Redis to share with: the in-process counts are all
            return True
        pending, ttls = self._pending, self._ttls
        self._pending, self._ttls = {}, {}

        async def send(redis: Redis) -> Any:
            pipe = redis.pipeline(transaction=False)
            for (key, field), n in pending.items():
                pipe.hincrby(key, field, n)
            for key, ttl in ttls.items():
                pipe.expire(key, ttl)
            return await pipe.execute()

        if await self.gateway.call(send, "counters flush") is UNAVAILABLE:
            # Back in front of whatever was counted meanwhile. A reply lost after Redis applied
            # the pipeline would count twice: rare (a timeout after the write), and bounded.
            for item, n in pending.items():
                self._pending[item] = self._pending.get(item, 0) + n
            for key, ttl in ttls.items():
                self._ttls.setdefault(key, ttl)
            return False
        return True

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
        await self.flush()

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._stop.wait()
            try:
                await self.flush()
            except Exception:  # a bug here must not stop counting for the process's lifetime
                log.exception("Flushing the shared counters failed")
