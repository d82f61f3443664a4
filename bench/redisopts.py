"""Named redis.asyncio client configurations, for comparing redis-py versions and settings.

Depends on redis-py alone (no threadr import), so the same presets run in the throwaway
virtualenvs of other redis-py versions that `bench/redispy.py` builds. "service" mirrors
`threadr.storage.client.redis_options` + `create_redis`; the others change one thing each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis import backoff
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.retry import Retry

TIMEOUT = 2.0  # REDIS_TIMEOUT_SECONDS' default


def _retry() -> Retry:
    # ExponentialWithJitterBackoff is redis-py >= 6; the backoff only matters after a failure.
    cls = getattr(backoff, "ExponentialWithJitterBackoff", None)
    if cls is not None:
        return Retry(cls(base=0.05, cap=0.5), retries=2)
    return Retry(backoff.EqualJitterBackoff(cap=0.5, base=0.05), retries=2)


def service_options() -> dict[str, Any]:
    """What threadr.storage.client builds for a plain redis:// URL."""
    return dict(
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        socket_keepalive=True,
        retry=_retry(),
        health_check_interval=30,
        max_connections=64,
        client_name="threadr",
    )


def _service(**changes: Any) -> Callable[[str], Redis]:
    def build(url: str) -> Redis:
        options = service_options() | changes
        pool_class = options.pop("pool_class", BlockingConnectionPool)
        if pool_class is BlockingConnectionPool:
            options["timeout"] = TIMEOUT
        return Redis(connection_pool=pool_class.from_url(url, **options))

    return build


PRESETS: dict[str, Callable[[str], Redis]] = {
    # This redis-py version's own defaults (8.x: RESP3, 5 s timeouts, retries; 5.x: RESP2, none).
    "defaults": lambda url: Redis.from_url(url),
    "defaults-resp2-notimeout": lambda url: Redis.from_url(
        url, protocol=2, socket_timeout=None, socket_connect_timeout=None
    ),
    "service": _service(),
    "service-resp2": _service(protocol=2),
    "service-resp3": _service(protocol=3),
    "service-plain-pool": _service(pool_class=ConnectionPool),
    "service-resp2-plain-pool": _service(protocol=2, pool_class=ConnectionPool),
    "service-no-socket-timeout": _service(socket_timeout=None),
}


def client(url: str, preset: str = "defaults") -> Redis:
    """A client for `url` configured as `preset` (one of PRESETS)."""
    return PRESETS[preset](url)
