"""The transport of article fetches: httpx's own, but its sockets only ever open to the IP
addresses netguard vetted for the request being sent (no DNS of its own)."""

from __future__ import annotations

import contextvars
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.util import find_spec

import httpcore
import httpx


@dataclass(frozen=True, slots=True)
class Pin:
    host: str
    port: int
    addresses: tuple[str, ...]


# The vetted addresses for the request the current task is sending. httpcore opens connections
# in the task that sends the request, so a context variable reaches the backend without any
# shared mutable map that concurrent fetches could race on.
PIN: contextvars.ContextVar[Pin | None] = contextvars.ContextVar("threadr_pin", default=None)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to the addresses pinned for the current request; no DNS."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = PIN.get()
        if pin is None or (pin.host, pin.port) != (host, port):
            # Fail closed: a connection nobody vetted (a path we did not foresee) never opens.
            raise httpcore.ConnectError("refusing a connection to an address nobody vetted")
        error: Exception | None = None
        for address in pin.addresses:  # all vetted; try each in order like a resolver would
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError("no address to connect to")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(
    *,
    verify: ssl.SSLContext | bool = True,
    http2: bool | None = None,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (HTTP/1.1, HTTP/2, TLS, pooling) whose sockets go only to pinned IPs.

    Why a network backend rather than putting the IP in the URL with `sni_hostname`: the URL
    keeps the real name, so Host / :authority, SNI, certificate checks and the pool key
    (scheme, host, port) all stay on the name, and the only thing that changes is where the
    socket goes. With an IP in the URL the pool would key on the IP and hand a keep-alive or
    HTTP/2 connection verified for a.com to a request for b.com on the same CDN address.
    A pooled connection for a name is only reused by later requests for that name, all of whose
    addresses were vetted too (an HTTP/2 request may share a connection another task is still
    opening, under that task's equally vetted pin), so reuse never reaches an unvetted address.
    """
    transport = httpx.AsyncHTTPTransport(
        verify=verify,
        trust_env=False,
        http2=find_spec("h2") is not None if http2 is None else http2,
    )
    pool = getattr(transport, "_pool", None)
    # httpx has no public seam for httpcore's network backend; if its internals ever change,
    # refuse to start rather than fetch with a backend that does its own DNS.
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx internals changed: cannot pin fetch connections to vetted IPs")
    pool._network_backend = PinnedBackend(network_backend)
    return transport
