"""Vetting of fetch targets: which URLs, host names and IP addresses the fetcher may connect to."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import idna

from threadr.config import Settings
from threadr.errors import BlockedURL, FetchFailed
from threadr.source import DEFAULT_PORTS, check_length, check_scheme, check_userinfo

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PRIVATE = "That address points to a private network, which this service does not fetch."
METADATA = "That address belongs to a cloud metadata service, which this service never fetches."
_INVALID_HOST = "That link's host name is not valid."

_AUTHORITY = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[^\[\]:]+))(?::(?P<port>[0-9]{0,5}))?"
)
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
# Names that only ever mean something inside a network; refused before any DNS query leaves.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".lan", ".arpa")


def _nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Metadata and host-agent endpoints (AWS/GCP/Azure/DO all use 169.254.169.254; AWS IPv6; Alibaba;
# Azure's wire server sits in public space). Refused even when private networks are allowed for
# local tests: no test server lives there, and credentials do.
_METADATA = _nets("169.254.0.0/16", "fd00:ec2::254/128", "100.100.100.200/32", "168.63.129.16/32")

# Spelled out rather than trusting `ipaddress` alone: its tables differ between Python patch
# releases (3.11.7 calls 192.0.0.8, 224.0.0.1, fec0::1 and 2002::/16 "global").
_FORBIDDEN = _nets(
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "168.63.129.16/32",
    # IPv4-compatible and -mapped forms, local-use NAT64, discard, IETF/Teredo, documentation,
    # 6to4, new documentation, SRv6, unique-local, link-local, site-local, multicast.
    "::/96",
    "::ffff:0:0/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class Target:
    """A vetted URL: `url` is what gets requested; `host` is ASCII (IPv6 without brackets)."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str | None = None  # set when the URL named an address instead of a host name


def is_public(ip: str | IPAddress) -> bool:
    """True only for a unicast address on the public internet, where a web server can live."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0] if isinstance(ip, str) else ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _NAT64:
            # DNS64 in IPv6-only cloud subnets answers 64:ff9b::a.b.c.d for every IPv4-only
            # site, so the IPv4 address inside decides. 6to4, Teredo and local-use NAT64 are
            # refused whole (in _FORBIDDEN): deprecated tunnels no web server depends on.
            return is_public(ipaddress.IPv4Address(int(addr) & 0xFFFF_FFFF))
        if addr not in _GLOBAL_UNICAST:  # the only IPv6 block handed out for the internet
            return False
    if any(addr in net for net in _FORBIDDEN):
        return False
    return addr.is_global and not addr.is_multicast


def parse_target(url: str, settings: Settings) -> Target:
    """Vet a URL's syntax, scheme, port, host and allowlist; raise BlockedURL with the reason."""
    check_length(url, BlockedURL, "url_invalid")
    # Whitespace, control and format characters are where URL parsers disagree with each other.
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url):
        raise BlockedURL("That link contains spaces or control characters.", code="url_invalid")
    # Browsers read "\" as "/", Python and httpx do not: a classic way to smuggle a second host.
    if "\\" in url.split("?", 1)[0].split("#", 1)[0]:
        raise BlockedURL("That link contains a backslash.", code="url_invalid")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise BlockedURL("That is not a valid link.", code="url_invalid") from exc
    check_scheme(parts.scheme)
    check_userinfo(parts.netloc)
    scheme = parts.scheme.lower()
    match = _AUTHORITY.fullmatch(parts.netloc)
    if match is None:
        raise BlockedURL(_INVALID_HOST, code="url_invalid")
    port = int(match["port"] or DEFAULT_PORTS[scheme])
    if not 1 <= port <= 65535:
        raise BlockedURL("That link's port number is not valid.", code="url_invalid")
    private_ok = settings.fetch_allow_private_networks
    if not private_ok and port not in settings.fetch_allowed_ports:
        raise BlockedURL(f"Links to port {port} are not fetched.", code="url_port")
    host, ip = _canonical_host(match["ipv6"], match["name"])
    if ip is not None:
        _judge(ip, settings)
    elif not private_ok and ("." not in host or host.endswith(_INTERNAL_SUFFIXES)):
        raise BlockedURL(PRIVATE, code="url_private")
    if settings.allowed_domains and not _allowed(host, ip is not None, settings.allowed_domains):
        raise BlockedURL(
            "That site is not on this service's list of allowed sites.", code="url_not_allowed"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    try:  # Re-parse with httpx, the parser the request will use: any disagreement is refused.
        final = httpx.URL(f"{scheme}://{netloc}{parts.path or '/'}{query}")
        final.host  # noqa: B018 - decodes xn-- labels as the request will: "xn--7a" is "¡", no host
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise BlockedURL("That is not a valid link.", code="url_invalid") from exc
    seen = (final.scheme, final.raw_host.decode("ascii"), final.port or DEFAULT_PORTS[scheme])
    if seen != (scheme, host, port) or final.userinfo:
        raise BlockedURL("That is not a valid link.", code="url_invalid")
    return Target(str(final), scheme, host, port, None if ip is None else str(ip))


async def resolve_public(target: Target, settings: Settings, resolver: Resolver) -> tuple[str, ...]:
    """Addresses to connect to for `target`; BlockedURL if ANY answer is not allowed."""
    if target.ip is not None:
        return (target.ip,)
    try:
        answers = await resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise FetchFailed("The site's name could not be found.", code="dns_failed") from exc
    addresses: list[str] = []
    for answer in answers:
        try:
            ip = ipaddress.ip_address(answer.split("%", 1)[0])
        except ValueError as exc:
            raise BlockedURL(
                "The site's address could not be checked.", code="url_private"
            ) from exc
        # One forbidden answer taints the name: the connection could land on any of them.
        _judge(ip, settings)
        addresses.append(str(ip))
    if not addresses:
        raise FetchFailed("The site's name could not be found.", code="dns_failed")
    return tuple(dict.fromkeys(addresses))


async def default_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system resolver; dotted names are queried absolute ("name.") so that
    resolv.conf search domains (Kubernetes' ndots:5) never turn them into internal names."""
    query = f"{host}." if "." in host else host
    infos = await asyncio.get_running_loop().getaddrinfo(
        query, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


def _judge(ip: IPAddress, settings: Settings) -> None:
    if any(inner in net for inner in _unwrap(ip) for net in _METADATA):
        raise BlockedURL(METADATA, code="url_metadata")
    if not settings.fetch_allow_private_networks and not is_public(ip):
        raise BlockedURL(PRIVATE, code="url_private")


def _unwrap(ip: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address embedded in it (mapped, compatible, NAT64, 6to4)."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64 or int(ip) >> 32 in (0, 0xFFFF):
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
    return found


def _canonical_host(ipv6: str | None, name: str | None) -> tuple[str, IPAddress | None]:
    """ASCII host and, for address literals (however spelled), the address it denotes."""
    if ipv6 is not None:
        try:
            ip6 = ipaddress.IPv6Address(ipv6)
        except ValueError as exc:
            raise BlockedURL(_INVALID_HOST, code="url_invalid") from exc
        return str(ip6), ip6
    assert name is not None
    if "%" in name:
        raise BlockedURL("Percent-encoded host names are not accepted.", code="url_invalid")
    if not name.isascii():
        # UTS #46 mapping as browsers do; fullwidth digits and dots come out as ASCII and are
        # then judged below like any other spelling.
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise BlockedURL(_INVALID_HOST, code="url_invalid") from exc
    name = name.lower()
    name = name[:-1] if name.endswith(".") else name  # "example.com." is the same host
    ip4 = _numeric_ipv4(name)
    if ip4 is not None:
        return str(ip4), ip4
    if not _HOSTNAME.fullmatch(name):
        raise BlockedURL(_INVALID_HOST, code="url_invalid")
    return name, None


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Decode a host whose last label is a number the way inet_aton and WHATWG do: 1-4 parts,
    each decimal, 0-octal or 0x-hex, the last filling the remaining bytes (127.1, 0x7f000001)."""
    parts = host.split(".")
    if not _NUMBER.fullmatch(parts[-1]):
        return None
    values: list[int] = []
    try:
        for part in parts:
            if not _NUMBER.fullmatch(part):
                raise ValueError(part)
            if part[:2].lower() == "0x":
                values.append(int(part[2:] or "0", 16))
            else:
                values.append(int(part, 8) if len(part) > 1 and part[0] == "0" else int(part))
    except ValueError as exc:  # "08", "1.a.3", a 5000-digit number …
        raise BlockedURL(_INVALID_HOST, code="url_invalid") from exc
    *head, last = values
    if len(values) > 4 or any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise BlockedURL(_INVALID_HOST, code="url_invalid")
    number = sum(v << (8 * (3 - i)) for i, v in enumerate(head)) + last
    return ipaddress.IPv4Address(number)


def _allowed(host: str, is_ip: bool, patterns: Iterable[str]) -> bool:
    """`name` matches itself only; `*.name` matches any deeper subdomain but NOT `name` itself
    (list both to allow both). Wildcards never match an address literal."""
    for pattern in patterns:
        wildcard = pattern.startswith("*.")
        try:
            bare, _ = _canonical_host(None, pattern[2:] if wildcard else pattern)
        except BlockedURL:
            continue
        if wildcard and not is_ip and host.endswith(f".{bare}"):
            return True
        if not wildcard and host == bare:
            return True
    return False
