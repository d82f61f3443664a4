"""netguard: URL syntax, numeric host spellings, address classes, allowlist, resolver vetting."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from threadr.articles.netguard import (
    METADATA,
    PRIVATE,
    default_resolver,
    is_public,
    parse_target,
    resolve_public,
)
from threadr.config import Settings
from threadr.errors import BlockedURL, FetchFailed

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def settings(**overrides: Any) -> Settings:
    return dataclasses.replace(Settings(), **overrides)


LOCAL = settings(fetch_allow_private_networks=True)


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.0.0.0x1", "127.0.0.1"),
        ("0177.0x0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.000.000.001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("１２７.０.０.１", "127.0.0.1"),  # fullwidth digits (UTS #46 maps them)
        ("127。0。0。1", "127.0.0.1"),  # ideographic full stops
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
    ],
)
def test_numeric_hosts_are_decoded_like_inet_aton(spelling: str, address: str) -> None:
    target = parse_target(f"http://{spelling}/x", LOCAL)
    assert target.ip == address
    assert target.host == address
    with pytest.raises(BlockedURL) as info:
        parse_target(f"http://{spelling}/x", settings())
    assert info.value.code == "url_private"
    assert address not in info.value.detail
    assert spelling not in info.value.detail


@pytest.mark.parametrize(
    "url",
    [
        "http://1.2.3.256/",
        "http://1.2.3.4.5/",
        "http://08.0.0.1/",
        "http://0x1g.0.0.1/",
        "http://1.a.3/",
        "http://example.0/",
        "http://4294967296/",
        "http://256.1/",
        "http://" + "9" * 5000 + "/",
        "http://[::1/",
        "http://[127.0.0.1]/",
        "http://[::1%25lo]/",
        "http://[1::2::3]/",
        "http://bü_cher.example/",
        "http:///example.com",
        "http://ex%61mple.com/",
        "http://%31%32%37.0.0.1/",
        "http://example..com/",
        "http://example.com../",
        "http://-example.com/",
        "http://exa$mple.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://example.com:８０/",
        "http://a" + ".a" * 130 + "/",
        "http://xn--7a.com/",  # punycode of "¡", which IDNA 2008 refuses (httpx would raise)
    ],
)
def test_malformed_hosts_are_refused(url: str) -> None:
    with pytest.raises(BlockedURL):
        parse_target(url, LOCAL)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "url_scheme"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "url_scheme"),
        ("ftp://example.com/", "url_scheme"),
        ("dict://127.0.0.1:11211/stat", "url_scheme"),
        ("javascript:alert(1)", "url_scheme"),
        ("example.com/post", "url_scheme"),
        ("http://example.com@127.0.0.1/", "url_userinfo"),
        ("http://user:pass@example.com/", "url_userinfo"),
        ("http://example.com%40127.0.0.1@evil.com/", "url_userinfo"),
        ("http://example.com\\@127.0.0.1/", "url_invalid"),
        ("http://evil.com\\.example.com/", "url_invalid"),
        ("http://exa mple.com/", "url_invalid"),
        ("http://example.com/\t", "url_invalid"),
        ("http://127.0.0.1\n.example.com/", "url_invalid"),
        ("http://example.com\x00.evil.com/", "url_invalid"),
        ("http://example.com\u200b/", "url_invalid"),
        (" http://example.com/", "url_invalid"),
        ("http://example.com:22/", "url_port"),
        ("http://example.com:6379/", "url_port"),
        ("https://example.com:8080/", "url_port"),
        ("http://localhost/", "url_private"),
        ("http://intranet/", "url_private"),
        ("http://printer.local/", "url_private"),
        ("http://metadata.google.internal/computeMetadata/v1/", "url_private"),
        ("http://app.localhost/", "url_private"),
        ("http://1.0.0.127.in-addr.arpa/", "url_private"),
        ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "url_private"),
        ("http://169.254.169.254/latest/meta-data/", "url_metadata"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "url_metadata"),
        ("http://2852039166/", "url_metadata"),
        ("http://[fd00:ec2::254]/", "url_metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "url_metadata"),
        ("http://" + "a" * 2100 + ".com/", "url_invalid"),
    ],
)
def test_refusals_say_why(url: str, code: str) -> None:
    with pytest.raises(BlockedURL) as info:
        parse_target(url, settings())
    assert info.value.code == code
    assert "127.0.0.1" not in info.value.detail
    assert "169.254" not in info.value.detail


def test_metadata_is_refused_even_when_private_networks_are_allowed() -> None:
    for host in (
        "169.254.169.254",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "168.63.129.16",
        "[::ffff:169.254.169.254]",
        "[64:ff9b::a9fe:a9fe]",
        "[2002:a9fe:a9fe::]",
    ):
        with pytest.raises(BlockedURL) as info:
            parse_target(f"http://{host}/", LOCAL)
        assert info.value.detail == METADATA


def test_accepted_urls_are_canonical() -> None:
    cases = {
        "HTTP://Example.COM/a/../b?q=1#frag": "http://example.com/b?q=1",
        "http://example.com.:80": "http://example.com/",
        "https://example.com:443/x": "https://example.com/x",
        "http://example.com:443/x": "http://example.com:443/x",
        "https://Bücher.example/ü": "https://xn--bcher-kva.example/%C3%BC",
        "https://ｅｘａｍｐｌｅ.com/": "https://example.com/",
        f"http://{PUBLIC_V4}/": f"http://{PUBLIC_V4}/",
        f"http://[{PUBLIC_V6.upper()}]/": f"http://[{PUBLIC_V6}]/",
        "http://my_host.example.com/": "http://my_host.example.com/",
    }
    for url, expected in cases.items():
        assert parse_target(url, settings()).url == expected


def test_private_mode_allows_any_port_and_local_names() -> None:
    target = parse_target("http://localhost:8123/p", LOCAL)
    assert (target.host, target.port, target.ip) == ("localhost", 8123, None)
    assert parse_target("http://10.0.0.5:5000/", LOCAL).ip == "10.0.0.5"


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        (PUBLIC_V4, True),
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        (PUBLIC_V6, True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address (DNS64 in IPv6-only subnets)
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("169.254.170.2", False),
        ("100.64.0.1", False),
        ("100.127.255.255", False),
        ("0.0.0.0", False),
        ("0.1.2.3", False),
        ("192.0.0.8", False),
        ("192.0.0.170", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("198.19.255.255", False),
        ("198.51.100.1", False),
        ("203.0.113.1", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.88.99.1", False),
        ("168.63.129.16", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", False),
        ("::127.0.0.1", False),
        ("::8.8.8.8", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::808:808", False),
        ("2002:7f00:1::", False),
        ("2002:808:808::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("2001:db8::1", False),
        ("3fff::1", False),
        ("5f00::1", False),
        ("100::1", False),
        ("4000::1", False),
        ("not an ip", False),
        ("", False),
    ],
)
def test_is_public(ip: str, public: bool) -> None:
    assert is_public(ip) is public


ALLOW = settings(allowed_domains=("example.com", "*.blog.org"))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.com/a", True),
        ("https://EXAMPLE.com./a", True),
        ("https://www.example.com/", False),  # exact names do not cover subdomains
        ("https://a.blog.org/", True),
        ("https://a.b.blog.org/", True),
        ("https://blog.org/", False),  # *.blog.org does not match the apex
        ("https://evilblog.org/", False),
        ("https://blog.org.evil.com/", False),
        ("https://example.com.evil.com/", False),
        ("https://evilexample.com/", False),
        ("https://evil.com/example.com", False),
        ("https://evil.com/?example.com", False),
        ("https://evil.com/#example.com", False),
        ("https://еxample.com/", False),  # Cyrillic "е"
        ("https://example.co/", False),
        (f"https://{PUBLIC_V4}/", False),
    ],
)
def test_allowlist(url: str, allowed: bool) -> None:
    if allowed:
        assert parse_target(url, ALLOW).url.startswith("https://")
    else:
        with pytest.raises(BlockedURL) as info:
            parse_target(url, ALLOW)
        assert info.value.code == "url_not_allowed"


def test_unusable_allowlist_patterns_match_nothing() -> None:
    odd = settings(allowed_domains=("bad..pattern", "*.bü_cher.example", "example.com"))
    assert parse_target("https://example.com/", odd).host == "example.com"
    with pytest.raises(BlockedURL):
        parse_target("https://x.bü_cher.example/", odd)


def test_wildcards_never_match_address_literals() -> None:
    odd = settings(allowed_domains=("*.0.0.1", "93.184.216.34"), fetch_allow_private_networks=True)
    with pytest.raises(BlockedURL):
        parse_target("http://127.0.0.1/", odd)
    assert parse_target(f"http://{PUBLIC_V4}/", odd).ip == PUBLIC_V4


def fake_dns(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


DNS = fake_dns(
    {
        "public.example": [PUBLIC_V4, PUBLIC_V6],
        "nat64.example": ["64:ff9b::808:808"],
        "loopback.example": ["127.0.0.1"],
        "rebind.example": [PUBLIC_V4, "10.0.0.1"],
        "mixed6.example": [PUBLIC_V6, "fd00::1"],
        "mapped.example": ["::ffff:127.0.0.1"],
        "metadata.example": ["169.254.169.254"],
        "scoped.example": ["fe80::1%eth0"],
        "garbage.example": ["not-an-address"],
        "empty.example": [],
    }
)


async def test_resolver_answers_are_all_vetted() -> None:
    public = parse_target("http://public.example/", settings())
    assert await resolve_public(public, settings(), DNS) == (PUBLIC_V4, PUBLIC_V6)
    nat64 = parse_target("http://nat64.example/", settings())
    assert await resolve_public(nat64, settings(), DNS) == ("64:ff9b::808:808",)
    for name in ("loopback", "rebind", "mixed6", "mapped", "scoped", "garbage"):
        target = parse_target(f"http://{name}.example/", settings())
        with pytest.raises(BlockedURL) as info:
            await resolve_public(target, settings(), DNS)
        assert info.value.detail in (PRIVATE, "The site's address could not be checked.")
    metadata = parse_target("http://metadata.example/", LOCAL)
    with pytest.raises(BlockedURL, match="metadata"):
        await resolve_public(metadata, LOCAL, DNS)
    rebind = parse_target("http://rebind.example/", LOCAL)
    assert await resolve_public(rebind, LOCAL, DNS) == (PUBLIC_V4, "10.0.0.1")


async def test_resolution_failures_are_fetch_failures() -> None:
    for name in ("missing.example", "empty.example"):
        with pytest.raises(FetchFailed) as info:
            await resolve_public(parse_target(f"http://{name}/", settings()), settings(), DNS)
        assert info.value.code == "dns_failed"


async def test_address_literals_skip_the_resolver() -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("resolver called for an address literal")

    target = parse_target(f"http://{PUBLIC_V4}/", settings())
    assert await resolve_public(target, settings(), never) == (PUBLIC_V4,)


async def test_default_resolver_uses_the_system_resolver() -> None:
    assert "127.0.0.1" in await default_resolver("localhost", 80)
