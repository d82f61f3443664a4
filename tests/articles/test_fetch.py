"""Fetcher end to end: real local servers, a recording network under the pinned transport."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import os
import socket
import time
import zlib

import httpx
import pytest

from threadr.articles.fetch import Fetcher
from threadr.errors import BlockedURL, FetchFailed, FetchTimeout, Unprocessable

from .sites import (
    DNS,
    HTML,
    LOCAL,
    PUBLIC_DNS,
    PUBLIC_V4,
    PUBLIC_V6,
    Network,
    Route,
    Server,
    closing,
    drip,
    fetcher,
    hang_up,
    reply,
    settings,
    stall,
)

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


def raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib header, as servers send under "Content-Encoding: deflate"."""
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (gzip.compress(HTML), {"content_encoding": "gzip"}),
        (zlib.compress(HTML), {"content_encoding": "deflate"}),
        (raw_deflate(HTML), {"content_encoding": "deflate"}),  # what many servers send
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


async def test_a_compressed_body_can_start_with_a_one_byte_read() -> None:
    body = raw_deflate(HTML)

    async def split(writer: asyncio.StreamWriter) -> None:
        await reply(200, body[:1], content_encoding="deflate", content_length=str(len(body)))(
            writer
        )
        await writer.drain()
        await asyncio.sleep(0.02)  # the first read gets one byte of the stream
        writer.write(body[1:])

    dns = DNS({"site.test": ["127.0.0.1"]})
    async with Server({"/": split}) as site, fetcher(LOCAL, Network(local=True), dns) as client:
        page = await client.fetch(f"http://site.test:{site.port}/")
    assert page.body == HTML


@pytest.mark.parametrize(
    ("bomb", "encoding"),
    [
        (gzip.compress(b"\0" * 50_000_000, compresslevel=9), "gzip"),  # ~50 KB → 50 MB
        (raw_deflate(b"\0" * 50_000_000), "deflate"),
    ],
    ids=["gzip", "raw deflate"],
)
async def test_a_compression_bomb_stops_at_the_byte_limit(bomb: bytes, encoding: str) -> None:
    dns = DNS({"bomb.test": ["127.0.0.1"]})
    config = dataclasses.replace(LOCAL, fetch_max_bytes=1_000_000)
    route = reply(200, bomb, content_encoding=encoding)
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
