"""The client's address behind an edge proxy: read from the one header that proxy sets
(CLIENT_IP_HEADER; docs/deployment.md), never from anything the client wrote itself."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

FORWARDED_FOR = "x-forwarded-for"
# Characters. The longest address in text, IPv6 with an IPv4 tail and a zone id, is under 64:
# a longer value is no address, and the peer's address counts instead.
MAX_ADDRESS = 64


class ClientAddress:
    """Pure ASGI: `scope["client"]` becomes the address the edge proxy passed in `header`, so that
    everything downstream (limits, quotas, the address a session records: web/identity.py,
    web/accounts.py) sees the client, not the proxy. A request without the header (one that did
    not come through the edge, such as a health check on the private network) keeps its peer.

    `x-forwarded-for` is a list every proxy appends the address it saw to, and the client may
    have started it with anything: only its right-most entry, the one the edge appended, is
    the edge's word. Of several lines of the header, the last counts (a proxy that adds a line
    of its own adds it last). Any other header is taken whole: it must be one the edge sets,
    overwriting what the client sent (e.g. `x-envoy-external-address`, `x-real-ip`).
    """

    __slots__ = ("_last_entry", "_name", "app")

    def __init__(self, app: ASGIApp, header: str) -> None:
        self.app = app
        name = header.lower()
        self._name = name.encode("latin-1")  # as uvicorn hands headers over: lower-case bytes
        self._last_entry = name == FORWARDED_FOR

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            address = self.address(scope["headers"])
            if address is not None:
                scope["client"] = (address, 0)  # the client's port is not passed on
        await self.app(scope, receive, send)

    def address(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The client's address in `headers`, or None when they carry no usable one."""
        raw = None
        name = self._name
        for key, value in headers:  # one pass; nothing decoded unless found
            if key == name:
                raw = value
        if raw is None:
            return None
        if self._last_entry:
            raw = raw.rpartition(b",")[2]
        address = raw.strip(b" \t").decode("latin-1")
        if not address or len(address) > MAX_ADDRESS:
            return None
        return address
