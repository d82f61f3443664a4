"""The Redis client's options and its connection budget (TLS verified against a real server in
integration/test_tls.py)."""

from __future__ import annotations

import ssl

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import SSLConnection

from tests.factories import make_settings
from threadr.config import unverified_tls_options
from threadr.storage.client import create_redis, redis_options, split_connections


@pytest.mark.parametrize(
    ("total", "shares"), [(1, (0, 1)), (2, (1, 1)), (8, (6, 2)), (64, (48, 16))]
)
def test_max_connections_is_split_between_lane_and_pool(
    total: int, shares: tuple[int, int]
) -> None:
    assert split_connections(total) == shares


def test_no_redis_url_means_no_client() -> None:
    assert create_redis(make_settings()) is None


def test_the_deadline_is_ours_and_the_pool_is_its_share() -> None:
    options = redis_options(make_settings(REDIS_MAX_CONNECTIONS="8", REDIS_TIMEOUT_SECONDS="1.5"))
    # No socket timeout (it costs a Task per command): the gateway's deadline bounds each call.
    assert options["socket_timeout"] is None and options["socket_connect_timeout"] == 1.5
    assert options["max_connections"] == 2 + 4  # the pool's share, and 4 spare
    assert "ssl_cert_reqs" not in options  # redis:// is not TLS


def test_tls_is_verified_unless_explicitly_made_insecure() -> None:
    secure = redis_options(make_settings(REDIS_URL="rediss://h:6380"))
    assert secure["ssl_cert_reqs"] == ssl.CERT_REQUIRED and secure["ssl_check_hostname"]
    assert secure["ssl_min_version"] == ssl.TLSVersion.TLSv1_2
    insecure = redis_options(make_settings(REDIS_URL="rediss://h:6380", REDIS_TLS_INSECURE="1"))
    assert insecure["ssl_cert_reqs"] == ssl.CERT_NONE and not insecure["ssl_check_hostname"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "ssl_cert_reqs=none",
        "ssl_cert_reqs=optional",
        "ssl_cert_reqs=required",
        "ssl_check_hostname=false",
        "ssl_check_hostname=FALSE",
        "ssl_check_hostname=f",
        "ssl_check_hostname=n",
        "ssl_check_hostname=true",
        "ssl_check_hostname=1",
        "ssl_cert_reqs=required&ssl_check_hostname=no",
        "ssl_cert_reqs=none&ssl_cert_reqs=required",  # redis-py takes the first
        "ssl_cert_reqs=%6Eone",  # percent-encoded: still `none`
        "db=2",
    ],
)
def test_the_settings_read_a_url_as_redis_py_does(query: str) -> None:
    """config.unverified_tls_options (config may not import redis-py) agrees with the TLS
    context redis-py builds from the same URL."""
    url = f"rediss://h:6380/0?{query}"
    connection = Redis.from_url(url).connection_pool.make_connection()  # type: ignore[no-untyped-call]
    context = connection.ssl_context.get()
    verified = context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert (not unverified_tls_options(url)) == verified


async def test_a_cluster_client_has_the_same_options_and_a_pool_per_node() -> None:
    settings = make_settings(
        REDIS_URL="rediss://default:pw@node-1:7000",
        REDIS_CLUSTER="true",
        REDIS_MAX_CONNECTIONS="8",
        REDIS_TIMEOUT_SECONDS="1.5",
    )
    cluster = create_redis(settings)  # connects lazily
    assert isinstance(cluster, RedisCluster)
    options = cluster.connection_kwargs
    assert options["max_connections"] == 8 + 4  # per node: the lane is not used on a cluster
    assert options["socket_timeout"] is None and options["socket_connect_timeout"] == 1.5
    assert options["connection_class"] is SSLConnection
    assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED and options["ssl_check_hostname"]
    assert options["password"] == "pw" and options["client_name"] == "threadr"
    # A master down takes its own slots away, not the client's whole map.
    assert not cluster.nodes_manager.require_full_coverage
    await cluster.aclose()
