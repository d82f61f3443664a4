"""A stand-in web for fetch tests: local HTTP/1.1 and HTTP/2 servers with canned routes, a DNS
table, and a recording network below the pinned transport that refuses every unplanned
connection."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpcore

from threadr.articles.fetch import Fetcher
from threadr.articles.transport import pinned_transport
from threadr.config import Settings

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
HTML = b"<!doctype html><html><head><title>Hi</title></head><body><p>Hello.</p></body></html>"


def settings(**overrides: Any) -> Settings:
    return dataclasses.replace(Settings(), **overrides)


LOCAL = settings(fetch_allow_private_networks=True)


class Network(httpcore.AsyncNetworkBackend):
    """The "internet" below PinnedBackend: records every connection attempt. Addresses in
    `routes` lead to a local server (a stand-in public site); any other attempt fails the test,
    except 127.0.0.1 when `local` is set (private-network mode)."""

    def __init__(self, routes: dict[str, int] | None = None, *, local: bool = False) -> None:
        self.routes = routes or {}
        self.local = local
        self.connects: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host in self.routes:
            return await self._real.connect_tcp("127.0.0.1", self.routes[host], timeout)
        if self.local and host == "127.0.0.1":
            return await self._real.connect_tcp(host, port, timeout)
        raise AssertionError(f"a connection to {host}:{port} was attempted")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AssertionError("a unix socket was opened")

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


class DNS:
    """A resolver seam with a fixed table; records every query."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.queries: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.queries.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


PUBLIC_DNS = {
    "news.example": [PUBLIC_V4],
    "example.com": [PUBLIC_V4],
    "a.blog.org": [PUBLIC_V4],
    "evil.com": [PUBLIC_V4],
    "example.com.evil.com": [PUBLIC_V4],
    "evilexample.com": [PUBLIC_V4],
    "xn--xample-2of.com": [PUBLIC_V4],
    "localtest.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "ten.example": ["10.0.0.7"],
    "cgnat.example": ["100.64.0.1"],
    "zero.example": ["0.0.0.0"],
    "rebind.example": [PUBLIC_V4, "10.0.0.1"],
    "rebind6.example": [PUBLIC_V6, "fd00::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "nat64.example": ["64:ff9b::a9fe:a9fe"],
    "sixtofour.example": ["2002:7f00:1::1"],
    "teredo.example": ["2001:0:4136:e378:8000:63bf:3fff:fdd2"],
    "azure.example": ["168.63.129.16"],
    "garbage.example": ["not-an-address"],
}

Route = Callable[[asyncio.StreamWriter], Awaitable[None]]


def reply(status: int = 200, body: bytes = HTML, /, **headers: str) -> Route:
    headers.setdefault("content_type", "text/html; charset=utf-8")
    headers.setdefault("content_length", str(len(body)))
    head = f"HTTP/1.1 {status} X\r\n" + "".join(
        f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items() if value
    )

    async def route(writer: asyncio.StreamWriter) -> None:
        writer.write(head.encode("latin-1") + b"\r\n" + body)

    return route


async def stall(writer: asyncio.StreamWriter) -> None:
    await writer.wait_closed()  # never answers; returns when the server stops


async def drip(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b"<")
        await writer.drain()
        await asyncio.sleep(0.05)  # the slow server: each read is quick, the whole is not


def closing(route: Route) -> Route:
    """The route, then the connection closes: the end of a body without a Content-Length."""

    async def close_after(writer: asyncio.StreamWriter) -> None:
        await route(writer)
        await writer.drain()
        writer.close()

    return close_after


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n<html>")
    await writer.drain()
    writer.transport.abort()


class Server:
    """A tiny HTTP/1.1 (and, over TLS with ALPN, HTTP/2) server on 127.0.0.1 for one test."""

    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.tls = tls
        self.seen: list[dict[str, str]] = []
        self.sni: list[str | None] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Server:
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()  # handlers see the connection drop and return
        await asyncio.gather(*self._tasks)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        ssl_object = writer.get_extra_info("ssl_object")
        try:
            if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
                await self._serve_h2(reader, writer)
            else:
                await self._serve_h11(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _serve_h11(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
            method, path, _ = line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines)}
            self.seen.append({":method": method, ":path": path, ":protocol": "http/1.1", **headers})
            await self.routes.get(path, reply(404, b"no"))(writer)
            await writer.drain()

    async def _serve_h2(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    self.seen.append({**dict(event.headers), ":protocol": "h2"})  # type: ignore[arg-type]
                    conn.send_headers(
                        event.stream_id,
                        [
                            (":status", "200"),
                            ("content-type", "text/html"),
                            ("content-length", str(len(HTML))),
                        ],
                    )
                    conn.send_data(event.stream_id, HTML, end_stream=True)
            writer.write(conn.data_to_send())
            await writer.drain()


@contextlib.asynccontextmanager
async def fetcher(
    config: Settings, network: Network, dns: DNS | None = None, **transport: Any
) -> AsyncIterator[Fetcher]:
    client = Fetcher(
        config,
        transport=pinned_transport(network_backend=network, **transport),
        resolver=dns or DNS(PUBLIC_DNS),
    )
    try:
        yield client
    finally:
        await client.aclose()
