"""Behind a fake edge that behaves like Railway's, against a real `threadr serve` that sees
Railway's variables and nothing else about its proxy: two clients (two source addresses) get two
identities (rate limits), and one that writes X-Forwarded-For itself gets no fresh one.

The edge connects to the service from an address of its own (127.0.0.9, not a trusted proxy),
and appends the address it saw to X-Forwarded-For, keeping whatever the client sent before it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from redis.asyncio import Redis

from tests.factories import CHEAP_ARGON2, PASSWORD, TEST_REDIS_URL, bearer

from .processes import threadr_servers

TEXT = "Threads are short. Each tweet carries one idea. Numbers help readers follow along. " * 5
EDGE_ADDRESS = "127.0.0.9"


async def relay(client: asyncio.StreamReader, to: asyncio.StreamWriter, upstream: int) -> None:
    """One request from `client`, passed on to the service with the peer's address appended to
    X-Forwarded-For and `Connection: close`; the service's whole answer passed back."""
    peer = to.get_extra_info("peername")[0]
    head = await client.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[:-2]
    kept, forwarded, length = [lines[0]], [], 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-forwarded-for":
            forwarded.append(value.strip())
        elif name.strip().lower() != "connection":
            kept.append(line)
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await client.readexactly(length)
    kept += [f"X-Forwarded-For: {', '.join([*forwarded, peer])}", "Connection: close"]
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", upstream, local_addr=(EDGE_ADDRESS, 0)
    )
    writer.write("\r\n".join(kept).encode("latin-1") + b"\r\n\r\n" + body)
    to.write(await reader.read())  # until the service closes: one answer
    writer.close()
    await writer.wait_closed()


@contextlib.asynccontextmanager
async def edge(upstream: int) -> AsyncIterator[int]:
    """The fake edge in front of the service on `upstream`; yields its own port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await relay(reader, writer, upstream)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def client(edge_port: int, source: str) -> httpx.AsyncClient:
    """A client on the internet: its requests leave from `source`, one connection each."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{edge_port}")


async def statuses(http: httpx.AsyncClient, count: int, **headers: str) -> list[int]:
    answers = [await http.post("/api/generate", json={"text": TEXT}, headers=headers)]
    answers += [await http.post("/api/generate", json={"text": TEXT}) for _ in range(count - 1)]
    return [a.status_code for a in answers]


async def test_behind_a_railway_like_edge_every_client_has_its_own_identity(
    redis: Redis,
) -> None:
    env = {
        "REDIS_URL": TEST_REDIS_URL,
        "RATE_LIMIT_BURST": "2",
        "ACCESS_LOG": "false",
        "RAILWAY_ENVIRONMENT_NAME": "production",  # all it takes (no CLIENT_IP_HEADER)
        "RAILWAY_SERVICE_ID": "0f4b6d4e-service",
        **CHEAP_ARGON2,
    }
    with threadr_servers(1, env) as (port,):
        async with (
            edge(port) as edge_port,
            client(edge_port, "127.0.0.2") as ann,
            client(edge_port, "127.0.0.3") as bob,
        ):
            assert await statuses(ann, 3) == [200, 200, 429]
            assert await statuses(bob, 1) == [200]  # not Ann's limit
            # Writing the header does not make a client someone new, nor someone else.
            assert await statuses(ann, 1, **{"X-Forwarded-For": "1.2.3.4"}) == [429]
            assert await statuses(bob, 2, **{"X-Forwarded-For": "127.0.0.7"}) == [200, 429]
            # A session records the address the edge saw, not the one the client wrote.
            forged = {"X-Forwarded-For": "1.2.3.4"}
            account = {"email": "ann@example.com", "password": PASSWORD}
            signed = await ann.post("/api/auth/register", json=account, headers=forged)
            token = signed.json()["access_token"]
            listed = await ann.get("/api/auth/sessions", headers=bearer(token))
            assert [s["ip"] for s in listed.json()["sessions"]] == ["127.0.0.2"]


async def test_without_railway_every_client_behind_the_edge_is_the_edge() -> None:
    env = {"RATE_LIMIT_BURST": "2", "ACCESS_LOG": "false"}
    with threadr_servers(1, env) as (port,):
        async with (
            edge(port) as edge_port,
            client(edge_port, "127.0.0.2") as ann,
            client(edge_port, "127.0.0.3") as bob,
        ):
            assert await statuses(ann, 2) == [200, 200]
            assert await statuses(bob, 1) == [429]  # one identity for all: 127.0.0.9
