"""A watch on Redis's health: a cheap, current answer for /health and /readiness."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisClusterException, RedisError

from threadr.singleflight import SingleFlight

log = logging.getLogger(__name__)

WATCH_SECONDS = 5.0  # how often the watcher refreshes the state /health reports


class RedisWatch:
    """Keeps a cheap, current answer to "is Redis reachable?" for /health and /readiness,
    refreshed in the background so that probes never wait on Redis."""

    def __init__(
        self, redis: Redis | None, *, timeout: float, interval: float = WATCH_SECONDS
    ) -> None:
        self.redis = redis
        self.interval = interval
        self.timeout = timeout
        self.connected = False
        self.error: Exception | None = None  # why the latest ping failed
        self._task: asyncio.Task[None] | None = None
        self._pings = SingleFlight[bool]()

    @property
    def status(self) -> str:
        if self.redis is None:
            return "not_configured"
        return "connected" if self.connected else "disconnected"

    async def check(self) -> bool:
        """Ping now; concurrent callers (a burst of /readiness probes) share one ping, so that
        probes never take more than one pool connection."""
        if self.redis is None:
            return False
        return await self._pings.run("ping", self._ping)

    async def _ping(self) -> bool:
        assert self.redis is not None
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.ping()
        except (RedisError, OSError, RedisClusterException) as exc:  # the last: no node answers
            if self.connected:
                log.warning("Redis connection lost (%s); falling back to in-memory stores", exc)
            self.connected = False
            self.error = exc
        else:
            if not self.connected:
                log.info("Redis connection established successfully")
            self.connected = True
        return self.connected

    async def start(self) -> None:
        if self.redis is None:
            return
        if not await self.check():
            log.warning(
                "Redis connection failed (%s); falling back to in-memory operations", self.error
            )
        self._task = asyncio.create_task(self._run(), name="threadr-redis-watch")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
