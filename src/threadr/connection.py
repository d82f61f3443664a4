"""The process's one Redis client (redis.asyncio + hiredis) and a watcher of its health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from .config import Settings
from .singleflight import SingleFlight

log = logging.getLogger(__name__)

HEALTH_CHECK_SECONDS = 30  # redis-py pings an idle connection before reuse after this long
WATCH_SECONDS = 5.0  # how often the watcher refreshes the state /health reports


def split_connections(total: int) -> tuple[int, int]:
    """(lane, pool) shares of REDIS_MAX_CONNECTIONS: a quarter (at least one) for the pool, the
    rest for lane.Lane; together they never open more (plus the pool's 4 spare)."""
    pool = max(1, total // 4)
    return total - pool, pool


def redis_options(settings: Settings) -> dict[str, Any]:
    """Connection options: explicit timeouts, retries with backoff, verified TLS."""
    timeout = settings.redis_timeout_seconds
    options: dict[str, Any] = dict(
        # No socket_timeout: redis-py wraps every send in asyncio.wait_for when it is set, which
        # creates a Task per command on Python 3.11 (~15% of a cache hit's CPU, measured).
        # Every call goes through CircuitBreaker.call, whose deadline (deadline.Deadlines)
        # bounds the whole command, send and reply, at the same REDIS_TIMEOUT.
        socket_timeout=None,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        health_check_interval=HEALTH_CHECK_SECONDS,
        # CircuitBreaker.call admits the pool's share of REDIS_MAX_CONNECTIONS calls at once
        # (split_connections); the spare ones keep the health watcher and start-up work
        # from ever finding the pool full.
        max_connections=split_connections(settings.redis_max_connections)[1] + 4,
        client_name="threadr",
    )
    if settings.redis_url and settings.redis_url.startswith("rediss://"):
        insecure = settings.redis_tls_insecure
        if insecure:
            log.warning(
                "REDIS_TLS_INSECURE=true: the Redis server's TLS certificate is NOT verified; "
                "anyone on the network path can read and change cached data. Use "
                "REDIS_SSL_CA_CERTS with the provider's CA bundle instead."
            )
        options.update(
            ssl_cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED,
            ssl_check_hostname=not insecure,
            ssl_ca_certs=settings.redis_ssl_ca_certs,
            ssl_min_version=ssl.TLSVersion.TLSv1_2,
        )
    return options


def create_redis(settings: Settings) -> Redis | None:
    """A client with its own pool, or None when REDIS_URL is not set. Connects lazily.

    A plain pool: redis-py's BlockingConnectionPool costs ~32 extra Python calls per command
    (bench/ measured it). Its one virtue — waiting instead of raising when every connection is
    busy — is kept by the semaphore of CircuitBreaker.call, sized to the same maximum.
    """
    if not settings.redis_url:
        return None
    return Redis.from_url(settings.redis_url, **redis_options(settings))


class RedisWatch:
    """Keeps a cheap, current answer to "is Redis reachable?" for /health and /readiness,
    refreshed in the background so that probes never wait on Redis."""

    def __init__(
        self, redis: Redis | None, interval: float = WATCH_SECONDS, timeout: float = 2.0
    ) -> None:
        self.redis = redis
        self.interval = interval
        self.timeout = timeout
        self.connected = False
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
        except (RedisError, OSError) as exc:
            if self.connected:
                log.warning("Redis connection lost (%s); falling back to in-memory stores", exc)
            self.connected = False
        else:
            if not self.connected:
                log.info("Redis connection established successfully")
            self.connected = True
        return self.connected

    async def start(self) -> None:
        if self.redis is None:
            return
        if not await self.check():
            log.warning("Redis connection failed; falling back to in-memory operations")
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
