"""The client's address behind an edge proxy (CLIENT_IP_HEADER; web/middleware/client.py): the
right-most X-Forwarded-For entry, the one the edge appended, or a header the edge sets whole;
through the whole app, for limits, quotas and the address a session records."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import CHEAP_ARGON2, bearer, make_settings, sign_up
from threadr.config import Settings
from threadr.web.app import create_app
from threadr.web.middleware.client import ClientAddress

TEXT = "Threads are short. Each tweet carries one idea. Numbers help readers follow along. " * 5
EDGE = "10.0.0.9"  # where the edge proxy connects from: the peer of every request


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in pairs]


@pytest.mark.parametrize(
    ("sent", "address"),
    [
        ([("x-forwarded-for", "203.0.113.7")], "203.0.113.7"),
        # The client wrote the left entries; the edge appended the last.
        ([("x-forwarded-for", "1.2.3.4, 203.0.113.7")], "203.0.113.7"),
        ([("x-forwarded-for", "1.2.3.4,203.0.113.7 ")], "203.0.113.7"),
        ([("x-forwarded-for", "2001:db8::1, 2001:db8:1:2::7")], "2001:db8:1:2::7"),
        # A line of its own added by the edge comes last.
        ([("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "203.0.113.7")], "203.0.113.7"),
        ([("x-real-ip", "1.2.3.4")], None),  # not the header asked for
        ([], None),
        ([("x-forwarded-for", "1.2.3.4, ")], None),  # an empty entry is no address
        ([("x-forwarded-for", "203.0.113.7, " + "9" * 65)], None),  # nor a 65-character one
    ],
)
def test_the_address_in_x_forwarded_for(sent: list[tuple[str, str]], address: str | None) -> None:
    assert ClientAddress(_app, "X-Forwarded-For").address(headers(*sent)) == address


def test_another_header_is_taken_whole() -> None:
    envoy = ClientAddress(_app, "x-envoy-external-address")
    assert envoy.address(headers(("x-envoy-external-address", " 203.0.113.7 "))) == "203.0.113.7"
    sent = headers(("x-envoy-external-address", "1.2.3.4, 203.0.113.7"))
    assert envoy.address(sent) == "1.2.3.4, 203.0.113.7"  # no list: taken as it came


@contextlib.asynccontextmanager
async def behind_the_edge(
    settings: Settings, **seams: Any
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """One running app whose every request comes from the edge proxy; `client(forwarded)` sends
    `X-Forwarded-For: forwarded`, as the edge passes it on (the client's own entries, then the
    address the edge saw)."""
    async with (
        LifespanManager(create_app(settings, **seams)) as manager,
        contextlib.AsyncExitStack() as s,
    ):
        transport = httpx.ASGITransport(app=manager.app, client=(EDGE, 50_000))

        def client(forwarded: str) -> httpx.AsyncClient:
            made = httpx.AsyncClient(
                transport=transport,
                base_url="http://threadr",
                headers={"X-Forwarded-For": forwarded},
            )
            s.push_async_callback(made.aclose)
            return made

        yield client


async def generate(client: httpx.AsyncClient) -> int:
    return (await client.post("/api/generate", json={"text": TEXT})).status_code


async def test_every_client_behind_the_edge_has_its_own_rate_limit() -> None:
    settings = make_settings(CLIENT_IP_HEADER="x-forwarded-for", RATE_LIMIT_BURST="2")
    async with behind_the_edge(settings) as client:
        ann, bob = client("203.0.113.7"), client("198.51.100.4")
        assert [await generate(ann), await generate(ann), await generate(ann)] == [200, 200, 429]
        assert await generate(bob) == 200  # another client, another identity
        # Entries of their own do not make them someone else.
        assert await generate(client("1.2.3.4, 203.0.113.7")) == 429
        assert await generate(client("203.0.113.7, 198.51.100.4")) == 200  # Bob's second
        assert await generate(bob) == 429


async def test_without_the_setting_every_client_is_the_edge() -> None:
    settings = make_settings(RATE_LIMIT_BURST="2")
    async with behind_the_edge(settings) as client:
        assert await generate(client("203.0.113.7")) == 200
        assert await generate(client("198.51.100.4")) == 200
        assert await generate(client("192.0.2.1")) == 429  # one shared identity: the edge's


async def test_a_session_records_the_address_the_edge_saw(fake: FakeRedis) -> None:
    settings = make_settings(CLIENT_IP_HEADER="X-Forwarded-For", **CHEAP_ARGON2)
    async with behind_the_edge(settings, redis=fake) as client:
        ann = client("1.2.3.4, 203.0.113.7")
        token = (await sign_up(ann, "ann@example.com"))["access_token"]
        listed = await ann.get("/api/auth/sessions", headers=bearer(token))
        assert [s["ip"] for s in listed.json()["sessions"]] == ["203.0.113.7"]


def test_railway_is_recognised_by_its_variables() -> None:
    assert make_settings().client_ip_header is None  # elsewhere: the peer's address
    for name in ("RAILWAY_ENVIRONMENT_NAME", "RAILWAY_SERVICE_ID", "RAILWAY_PROJECT_ID"):
        assert make_settings(**{name: "x"}).client_ip_header == "x-forwarded-for"
    on_railway = {"RAILWAY_ENVIRONMENT_ID": "e-1"}
    assert make_settings(CLIENT_IP_HEADER="none", **on_railway).client_ip_header is None
    chosen = make_settings(CLIENT_IP_HEADER="X-Real-IP", **on_railway)
    assert chosen.client_ip_header == "x-real-ip"
