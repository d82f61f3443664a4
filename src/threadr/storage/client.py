"""The process's one Redis client (redis.asyncio + hiredis): its options, its connections."""

from __future__ import annotations

import logging
import ssl
from typing import Any, cast

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from threadr.config import Settings

log = logging.getLogger(__name__)

HEALTH_CHECK_SECONDS = 30  # redis-py pings an idle connection before reuse after this long


def split_connections(total: int) -> tuple[int, int]:
    """(lane, pool) shares of REDIS_MAX_CONNECTIONS: a quarter (at least one) for the pool, the
    rest for the lane (lane.py); together they never open more (plus the pool's 4 spare)."""
    pool = max(1, total // 4)
    return total - pool, pool


def redis_options(settings: Settings) -> dict[str, Any]:
    """Connection options: explicit timeouts, retries with backoff, verified TLS."""
    timeout = settings.redis_timeout_seconds
    options: dict[str, Any] = dict(
        # No socket_timeout: redis-py wraps every send in asyncio.wait_for when it is set, which
        # creates a Task per command on Python 3.11 (~15% of a cache hit's CPU, measured).
        # Every call goes through the gateway, whose deadline (deadline.Deadlines) bounds the
        # whole command, send and reply, at the same REDIS_TIMEOUT.
        socket_timeout=None,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        health_check_interval=HEALTH_CHECK_SECONDS,
        # The gateway admits the pool's share of REDIS_MAX_CONNECTIONS calls at once
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
    busy — is kept by the gateway's bound on pool calls, sized to the same maximum.
    With REDIS_CLUSTER, a `RedisCluster` (create_cluster).
    """
    if not settings.redis_url:
        return None
    if settings.redis_cluster:
        return create_cluster(settings)
    return Redis.from_url(settings.redis_url, **redis_options(settings))


def create_cluster(settings: Settings) -> Redis:
    """A `RedisCluster` that learns the cluster from the node REDIS_URL names, with the same
    options (TLS, timeouts, retries) and a pool per node.

    Typed as `Redis`: it takes the same commands for everything the stores send (keyed
    commands, pipelines without MULTI, EVALSHA), and the gateway is where the two differ
    (storage/cluster.py). Each node may open REDIS_MAX_CONNECTIONS (+ the spare ones): the
    lane is not used on a cluster, so the gateway admits that many calls at once.
    """
    assert settings.redis_url is not None
    options = redis_options(settings)
    options["max_connections"] = settings.redis_max_connections + 4
    cluster = RedisCluster.from_url(
        settings.redis_url,
        # A master that is down takes only its own slots away: with full coverage required,
        # the client would refuse to start, or to refresh its map, while any slot is uncovered,
        # and the other masters' keys would fall back to memory with it.
        require_full_coverage=False,
        **options,
    )
    return cast(Redis, cluster)
