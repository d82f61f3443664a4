"""Who a request counts as: IPv4 by its address, IPv6 by its prefix (RATE_LIMIT_IPV6_PREFIX),
an IPv4-mapped address as the IPv4 one; through the whole app, for the limiter and the quota."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.factories import make_settings
from threadr.config import Settings
from threadr.web.app import create_app
from threadr.web.identity import client_host

TEXT = "Threads are short. Each tweet carries one idea. Numbers help readers follow along. " * 5


def scope_from(host: str | None) -> dict[str, Any]:
    return {"type": "http", "client": None if host is None else (host, 50_000)}


@pytest.mark.parametrize(
    ("host", "prefix", "identity"),
    [
        ("192.0.2.7", 64, "192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::"),
        ("2001:DB8:1:2::1", 64, "2001:db8:1:2::"),  # one spelling per network
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 48, "2001:db8:1::"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 128, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
        ("::ffff:192.0.2.7", 64, "192.0.2.7"),
        ("::ffff:c000:207", 64, "192.0.2.7"),
        ("fe80::1%eth0", 64, "fe80::"),
        ("fe80::1:2:3:4%2", 128, "fe80::1:2:3:4"),
        ("::1", 64, "::"),
        ("not-an-address", 64, "not-an-address"),
        ("2001:db8::zz", 64, "2001:db8::zz"),  # unparseable: kept as it came
        ("", 64, ""),
    ],
)
def test_the_identity_of_an_address(host: str, prefix: int, identity: str) -> None:
    assert client_host(scope_from(host), prefix) == identity


def test_no_client_is_unknown() -> None:
    assert client_host(scope_from(None), 64) == "unknown"
    assert client_host({"type": "http"}, 64) == "unknown"


@contextlib.asynccontextmanager
async def clients(settings: Settings) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """One running app; `client(host)` talks to it as a client connecting from `host`."""
    async with LifespanManager(create_app(settings)) as manager, contextlib.AsyncExitStack() as s:

        def client(host: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=manager.app, client=(host, 50_000))
            made = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            s.push_async_callback(made.aclose)
            return made

        yield client


async def generate(client: httpx.AsyncClient, text: str = TEXT) -> int:
    return (await client.post("/api/generate", json={"text": text})).status_code


async def test_addresses_of_one_slash_64_share_the_rate_limit() -> None:
    settings = make_settings(RATE_LIMIT_BURST="2", FREE_TIER_ENABLED="false")
    async with clients(settings) as client:
        assert await generate(client("2001:db8:1:2::1")) == 200
        assert await generate(client("2001:db8:1:2:ffff:ffff:ffff:fffe")) == 200
        assert await generate(client("2001:db8:1:2::3")) == 429  # a third host, same /64
        assert await generate(client("2001:db8:1:3::1")) == 200  # the next /64 starts full
        status = await client("2001:db8:1:2::9").get("/api/rate-limit-status")
        assert status.json()["policies"][0]["remaining"] == 0


async def test_addresses_of_one_slash_64_share_the_quota() -> None:
    settings = make_settings(FREE_TIER_DAILY_LIMIT="1", RATE_LIMIT_ENABLED="false")
    async with clients(settings) as client:
        assert await generate(client("2001:db8:5:6::1")) == 200
        assert await generate(client("2001:db8:5:6::2"), "Another text. " + TEXT) == 402
        assert await generate(client("2001:db8:5:7::1"), "Another text. " + TEXT) == 200
        usage = await client("2001:db8:5:6::abcd").get("/api/usage/status")
        assert usage.json()["daily_usage"] == 1


async def test_the_prefix_is_configurable() -> None:
    settings = make_settings(
        RATE_LIMIT_BURST="1", RATE_LIMIT_IPV6_PREFIX="128", FREE_TIER_ENABLED="false"
    )
    async with clients(settings) as client:
        assert await generate(client("2001:db8:1:2::1")) == 200
        assert await generate(client("2001:db8:1:2::2")) == 200  # each /128 on its own


async def test_ipv4_clients_count_by_address_and_mapped_ones_with_them() -> None:
    settings = make_settings(RATE_LIMIT_BURST="2", FREE_TIER_ENABLED="false")
    async with clients(settings) as client:
        assert await generate(client("192.0.2.1")) == 200
        assert await generate(client("::ffff:192.0.2.1")) == 200  # the same client over IPv6
        assert await generate(client("192.0.2.1")) == 429
        assert await generate(client("192.0.2.2")) == 200  # its neighbour is someone else
