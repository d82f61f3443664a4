"""Fetcher end to end: real local servers, a recording network under the pinned transport."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import os
import shutil
import socket
import ssl
import subprocess
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpcore
import httpx
import pytest

from threadr.config import Settings
from threadr.errors import BlockedURL, FetchFailed, FetchTimeout, Unprocessable
from threadr.fetch import Fetcher, Page, PinnedBackend, pinned_transport

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


ATTACKS = [
    # Address literals, however spelled.
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://0x7f.0.0.0x1/",
    "http://017700000001/",
    "http://127.0.0.1./",
    "http://0/",
    "http://１２７.０.０.１/",
    "http://127。0。0。1/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://192.0.0.170/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://100.100.100.200/",
    "http://168.63.129.16/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[fec0::1]/",
    "http://[fd00:ec2::254]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[::1%25lo]/",
    # Names that resolve to forbidden addresses, or to one forbidden address among several.
    "http://localtest.example/",
    "http://metadata.example/",
    "http://ten.example/",
    "http://cgnat.example/",
    "http://zero.example/",
    "http://rebind.example/",
    "http://rebind6.example/",
    "http://mapped.example/",
    "http://nat64.example/",
    "http://sixtofour.example/",
    "http://teredo.example/",
    "http://azure.example/",
    "http://garbage.example/",
    "http://localhost/",
    "http://intranet/",
    "http://metadata.google.internal/",
    "http://printer.local/",
    "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
    # Userinfo, ports, schemes.
    "http://example.com@127.0.0.1/",
    "http://user:pass@example.com/",
    "http://example.com:22/",
    "http://example.com:6379/",
    "https://example.com:8443/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp://example.com/",
    "dict://127.0.0.1:11211/",
    # Parser confusion.
    "http://%31%32%37.0.0.1/",
    "http://example.com\\@127.0.0.1/",
    "http://evil.com\\.example.com/",
    "http://exa mple.com/",
    "http://example.com\t/",
    "http://127.0.0.1\n.example.com/",
    "http://example.com\x00.evil.com/",
    "http://example.com\u200b.evil.com/",
    "http:///127.0.0.1",
]
ALLOWLIST_ATTACKS = [
    "http://example.com.evil.com/",
    "http://evilexample.com/",
    "http://evil.com/example.com",
    "http://evil.com/?u=http://example.com",
    "http://еxample.com/",
    "http://example.com.evil.com./",
    "http://blog.org/",
    "http://evilblog.org/",
]


@pytest.mark.parametrize("url", ATTACKS)
async def test_attacks_are_blocked_before_any_connection(url: str) -> None:
    network, dns = Network(), DNS(PUBLIC_DNS)
    async with fetcher(settings(), network, dns) as client:
        with pytest.raises(BlockedURL) as info:
            await client.fetch(url)
    assert network.connects == []
    assert set(dns.queries) <= set(PUBLIC_DNS)  # no query for a literal or a refused name
    for internal in ("127.", "169.254", "10.0", "::1", "fd00", "ffff"):
        assert internal not in info.value.detail


@pytest.mark.parametrize("url", ALLOWLIST_ATTACKS)
async def test_allowlist_bypasses_are_blocked(url: str) -> None:
    network = Network()
    config = settings(allowed_domains=("example.com", "*.blog.org"))
    async with fetcher(config, network) as client:
        with pytest.raises(BlockedURL, match="allowed sites"):
            await client.fetch(url)
    assert network.connects == []


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://127.0.0.1:{port}/",
        "http://0x7f.1/",
        "http://[::1]/",
        "http://localtest.example/",
        "http://rebind.example/",
        "file:///etc/passwd",
        "gopher://news.example/",
        "http://user@news.example/",
        "http://news.example:6379/",
        "/\\evil.com",
    ],
)
async def test_a_redirect_to_a_forbidden_address_is_never_followed(location: str) -> None:
    async with Server({}) as site:
        site.routes["/"] = reply(302, b"", location=location.format(port=site.port))
        network = Network({PUBLIC_V4: site.port})
        async with fetcher(settings(), network) as client:
            with pytest.raises(BlockedURL, match=r"^The page redirected to a link"):
                await client.fetch("http://news.example/")
    assert network.connects == [(PUBLIC_V4, 80)]
    assert len(site.seen) == 1
    assert site.seen[0]["host"] == "news.example"


async def test_a_redirect_hop_through_the_transport_seam_is_vetted_too() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(302, headers={"location": "http://169.254.169.254/"})

    client = Fetcher(settings(), transport=httpx.MockTransport(handler), resolver=DNS(PUBLIC_DNS))
    with pytest.raises(BlockedURL, match="metadata"):
        await client.fetch("https://news.example/a")
    await client.aclose()
    assert [str(r.url) for r in requests] == ["https://news.example/a"]


async def test_connects_to_the_vetted_address_with_the_original_host() -> None:
    dns = DNS({"article.test": ["127.0.0.1"]})
    async with Server({"/post?x=1": reply(200, HTML)}) as site:
        network = Network(local=True)
        async with fetcher(LOCAL, network, dns) as client:
            page = await client.fetch(f"http://Article.TEST:{site.port}/post?x=1#frag")
    assert network.connects == [("127.0.0.1", site.port)]
    assert dns.queries == ["article.test"]
    assert site.seen[0]["host"] == f"article.test:{site.port}"
    assert site.seen[0][":path"] == "/post?x=1"
    assert "Mozilla/5.0" in site.seen[0]["user-agent"]
    assert "text/html" in site.seen[0]["accept"]
    assert page == Page(
        url=f"http://article.test:{site.port}/post?x=1",
        status=200,
        content_type="text/html; charset=utf-8",
        headers={"content-type": "text/html; charset=utf-8"},
        body=HTML,
    )


async def test_the_default_transport_pins_too() -> None:
    # article.test does not exist in real DNS: the page arrives only if no second lookup happens.
    async with Server({"/": reply()}) as site:
        client = Fetcher(LOCAL, resolver=DNS({"article.test": ["127.0.0.1"]}))
        page = await client.fetch(f"http://article.test:{site.port}/")
        await client.aclose()
    assert page.body == HTML
    assert site.seen[0]["host"] == f"article.test:{site.port}"


async def test_connections_are_reused_per_host_and_never_across_hosts() -> None:
    dns = DNS({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    async with Server({"/": reply()}) as site:
        network = Network(local=True)
        async with fetcher(LOCAL, network, dns) as client:
            for host in ("a.test", "a.test", "b.test"):
                await client.fetch(f"http://{host}:{site.port}/")
    assert len(network.connects) == 2  # keep-alive for a.test, a new connection for b.test
    hosts = [f"{name}:{site.port}" for name in ("a.test", "a.test", "b.test")]
    assert [s["host"] for s in site.seen] == hosts


async def test_an_unvetted_connection_fails_closed() -> None:
    network = Network()
    async with httpx.AsyncClient(transport=pinned_transport(network_backend=network)) as raw:
        with pytest.raises(httpx.ConnectError):
            await raw.get("http://example.com/")
    with pytest.raises(httpcore.ConnectError):
        await PinnedBackend(network).connect_tcp("example.com", 80)
    assert network.connects == []


async def test_redirects_are_followed_and_each_hop_is_resolved() -> None:
    dns = DNS({"news.example": [PUBLIC_V4], "cdn.example": [PUBLIC_V6]})
    async with Server({}) as site:
        site.routes.update(
            {
                "/a": reply(301, b"", location="/b"),
                "/b": reply(302, b"", location="http://cdn.example/c?d=1"),
                "/c?d=1": reply(303, b"", location="../e"),
                "/e": reply(200, b"plain words", content_type="text/plain"),
            }
        )
        network = Network({PUBLIC_V4: site.port, PUBLIC_V6: site.port})
        async with fetcher(settings(), network, dns) as client:
            page = await client.fetch("http://news.example/a")
    assert page.url == "http://cdn.example/e"
    assert page.body == b"plain words"
    assert dns.queries == ["news.example", "news.example", "cdn.example", "cdn.example"]
    assert [s["host"] for s in site.seen] == ["news.example"] * 2 + ["cdn.example"] * 2


def chain(length: int) -> dict[str, Route]:
    routes = {f"/r{i}": reply(307, b"", location=f"/r{i + 1}") for i in range(length)}
    routes[f"/r{length}"] = reply()
    return routes


async def test_five_redirects_are_fine_six_are_too_many() -> None:
    dns = DNS({"loop.test": ["127.0.0.1"]})
    async with Server(chain(5)) as site, fetcher(LOCAL, Network(local=True), dns) as client:
        assert (await client.fetch(f"http://loop.test:{site.port}/r0")).body == HTML
    async with Server(chain(6)) as site, fetcher(LOCAL, Network(local=True), dns) as client:
        with pytest.raises(Unprocessable) as info:
            await client.fetch(f"http://loop.test:{site.port}/r0")
    assert info.value.code == "too_many_redirects"
    assert len(site.seen) == 6


async def test_cookies_ride_along_one_fetch_only() -> None:
    dns = DNS({"paywall.test": ["127.0.0.1"]})
    routes = {
        "/in": reply(302, b"", location="/article", set_cookie="s=1; Path=/"),
        "/article": reply(),
    }
    async with Server(routes) as site, fetcher(LOCAL, Network(local=True), dns) as client:
        await client.fetch(f"http://paywall.test:{site.port}/in")
        await client.fetch(f"http://paywall.test:{site.port}/article")
    assert site.seen[1].get("cookie") == "s=1"
    assert "cookie" not in site.seen[2]


@pytest.mark.parametrize(
    ("route", "error", "text"),
    [
        (reply(404, b"gone"), FetchFailed, "404 Not Found"),
        (reply(503, b"busy"), FetchFailed, "503 Service Unavailable"),
        (reply(304, b""), FetchFailed, "304 Not Modified"),
        (reply(302, b""), FetchFailed, "without saying where"),
        (reply(302, b"", location="http://[::1"), FetchFailed, "malformed"),
        (reply(200, b"%PDF-1.7", content_type="application/pdf"), Unprocessable, "application/pdf"),
        (reply(200, b"x", content_type="image/png; x=1"), Unprocessable, "image/png"),
        (reply(200, b"\x89PNG\r\n", content_type=""), Unprocessable, "does not look like"),
        (reply(200, b"x" * 5000), Unprocessable, "larger than 4,096 bytes"),
        (reply(200, b"x", content_length="999999999"), Unprocessable, "larger than"),
        (
            closing(
                reply(
                    200,
                    gzip.compress(os.urandom(9000)),
                    content_encoding="gzip",
                    content_length="",
                    connection="close",
                )
            ),
            Unprocessable,
            "larger than",
        ),
        (reply(200, b"not gzip", content_encoding="gzip"), FetchFailed, "corrupt"),
        (reply(200, b"x", content_encoding="br"), FetchFailed, "encoding"),
        (hang_up, FetchFailed, "incomplete|failed before the page arrived"),
    ],
)
async def test_bad_answers_become_our_errors(
    route: Route, error: type[Exception], text: str
) -> None:
    dns = DNS({"site.test": ["127.0.0.1"]})
    config = dataclasses.replace(LOCAL, fetch_max_bytes=4096)
    async with Server({"/": route}) as site, fetcher(config, Network(local=True), dns) as client:
        with pytest.raises(error, match=text) as info:
            await client.fetch(f"http://site.test:{site.port}/")
    if "Not Found" in text:
        assert info.value.extra == {"upstream_status": 404}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (gzip.compress(HTML), {"content_encoding": "gzip"}),
        (zlib.compress(HTML), {"content_encoding": "deflate"}),
        (HTML, {"content_type": ""}),  # no content type, but it sniffs as HTML
        (b"\xef\xbb\xbf\n  <HTML lang=en>", {"content_type": ""}),
        (HTML, {"content_type": "application/xhtml+xml; charset=utf-8"}),
    ],
)
async def test_good_answers(body: bytes, headers: dict[str, str]) -> None:
    dns = DNS({"site.test": ["127.0.0.1"]})
    route = reply(200, body, **headers)
    async with Server({"/": route}) as site, fetcher(LOCAL, Network(local=True), dns) as client:
        page = await client.fetch(f"http://site.test:{site.port}/")
    assert page.body in (HTML, b"\xef\xbb\xbf\n  <HTML lang=en>")
    assert page.content_type == (headers.get("content_type", "text/html; charset=utf-8") or None)


async def test_a_gzip_bomb_stops_at_the_byte_limit() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # ~50 KB that inflates to 50 MB
    dns = DNS({"bomb.test": ["127.0.0.1"]})
    config = dataclasses.replace(LOCAL, fetch_max_bytes=1_000_000)
    route = reply(200, bomb, content_encoding="gzip")
    async with Server({"/": route}) as site, fetcher(config, Network(local=True), dns) as client:
        with pytest.raises(Unprocessable) as info:
            await client.fetch(f"http://bomb.test:{site.port}/")
    assert info.value.code == "page_too_large"


@pytest.mark.parametrize("route", [stall, drip])
async def test_a_slow_site_times_out_within_the_deadline(route: Route) -> None:
    dns = DNS({"slow.test": ["127.0.0.1"]})
    config = dataclasses.replace(LOCAL, fetch_timeout_seconds=0.3)
    async with Server({"/": route}) as site, fetcher(config, Network(local=True), dns) as client:
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match=r"0\.3 seconds"):
            await client.fetch(f"http://slow.test:{site.port}/")
    assert time.monotonic() - started < 1.5


async def test_slow_dns_counts_against_the_deadline() -> None:
    async def hang(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        return []

    client = Fetcher(settings(fetch_timeout_seconds=0.2), resolver=hang)
    with pytest.raises(FetchTimeout):
        await client.fetch("https://news.example/")
    await client.aclose()


async def test_refused_connections_and_unknown_names_are_fetch_failures() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    dns = DNS({"down.test": ["127.0.0.1"]})
    async with fetcher(LOCAL, Network(local=True), dns) as client:
        with pytest.raises(FetchFailed, match="could not be reached"):
            await client.fetch(f"http://down.test:{port}/")
        with pytest.raises(FetchFailed, match="name could not be found"):
            await client.fetch("http://missing.test/")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate (key in the same file) for article.test and www.article.test."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    path = tmp_path_factory.mktemp("tls") / "article.pem"
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=article.test",
            "-keyout",
            str(path),
            "-out",
            str(path.with_suffix(".crt")),
            "-addext",
            "subjectAltName=DNS:article.test,DNS:www.article.test",
        ],
        check=True,
        capture_output=True,
    )
    path.write_bytes(path.read_bytes() + path.with_suffix(".crt").read_bytes())
    return path


@pytest.mark.parametrize("http2", [False, True])
async def test_tls_uses_the_real_name_for_sni_and_the_certificate(
    certificate: Path, http2: bool
) -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certificate)
    server_tls.set_alpn_protocols(["h2", "http/1.1"])
    client_tls = ssl.create_default_context(cafile=str(certificate))
    names = ("article.test", "www.article.test", "other.test")
    dns = DNS({name: ["127.0.0.1"] for name in names})
    async with Server({"/": reply()}, tls=server_tls) as site:
        network = Network(local=True)
        async with fetcher(LOCAL, network, dns, verify=client_tls, http2=http2) as client:
            for name in names[:2]:
                assert (await client.fetch(f"https://{name}:{site.port}/")).body == HTML
            with pytest.raises(FetchFailed, match="certificate could not be verified"):
                await client.fetch(f"https://other.test:{site.port}/")
    assert site.sni == list(names)  # SNI is the name, never the pinned address
    assert network.connects == [("127.0.0.1", site.port)] * 3  # one connection per name
    protocol = "h2" if http2 else "http/1.1"
    authority = ":authority" if http2 else "host"
    assert [(s[":protocol"], s[authority]) for s in site.seen] == [
        (protocol, f"{name}:{site.port}") for name in names[:2]
    ]
