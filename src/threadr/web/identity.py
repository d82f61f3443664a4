"""Who is asking: the key under which limits and quotas count a request."""

from __future__ import annotations

import functools
from ipaddress import AddressValueError, IPv6Address

from starlette.types import Scope

# Who was asking, for the request's log line: handlers that know set scope["state"][IDENTITY_KIND]
# (web/auth.py and web/generate.py for a live session, web/admin.py for an admin key); the
# line says ANONYMOUS when none did. A kind, never who: no token, key, id or email.
IDENTITY_KIND = "identity_kind"
ANONYMOUS, ACCOUNT, ADMIN = "anonymous", "account", "admin"


def client_host(scope: Scope, ipv6_prefix: int) -> str:
    """The client as limits and quotas count it: an IPv4 address as it is, an IPv6 address by
    its network of `ipv6_prefix` bits (RATE_LIMIT_IPV6_PREFIX).

    The address is the one the edge proxy passed (CLIENT_IP_HEADER, set into the scope by
    middleware/client.py), else uvicorn's after trusted-proxy handling (FORWARDED_ALLOW_IPS):
    an X-Forwarded-For the client wrote itself is never believed."""
    client = scope.get("client")
    if not client:
        return "unknown"
    host: str = client[0]
    if ":" not in host:
        return host  # IPv4 (or a name): this check is all an IPv4 request pays
    return _ipv6_identity(host, ipv6_prefix)


# Parsing an IPv6 address costs ~11 µs and this runs on every request, cache hits included;
# a remembered answer costs ~0.13 µs (timeit). Bounded, so a client cycling
# through the 2^64 addresses of its own /64 only ever costs the parse.
@functools.lru_cache(maxsize=4096)
def _ipv6_identity(host: str, prefix: int) -> str:
    """The network address of `host`'s /`prefix` (`2001:db8:1:2::` for a /64), or the IPv4
    address of an IPv4-mapped one; a string that does not parse is kept as it came."""
    try:
        address = IPv6Address(host)  # a scope id (fe80::1%eth0) parses, and is dropped below
    except AddressValueError:
        return host
    mapped = address.ipv4_mapped
    if mapped is not None:
        return str(mapped)  # ::ffff:192.0.2.7 is the IPv4 client 192.0.2.7
    # One host gets a whole /64 (RFC 6177) and picks any address in it at will (RFC 8981
    # privacy addresses), so counting /128s would give every client unlimited identities.
    shift = 128 - prefix
    return str(IPv6Address(int(address) >> shift << shift))
