"""The pinned transport: sockets go only to vetted addresses, while the name stays in Host,
SNI and the certificate check; connections are never shared across names."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpcore
import httpx
import pytest

from threadr.articles.fetch import Fetcher, Page
from threadr.articles.transport import PinnedBackend, pinned_transport
from threadr.errors import FetchFailed

from .sites import DNS, HTML, LOCAL, Network, Server, fetcher, reply


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
