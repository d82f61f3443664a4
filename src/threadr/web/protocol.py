"""The HTTP/1.1 protocol `threadr serve` speaks: uvicorn's httptools protocol with a deadline and a
size cap on each request's head (its request line and headers), which uvicorn has neither of.

Without them a client that trickles its headers a byte at a time, or connects and sends nothing,
holds its connection for as long as it likes (uvicorn arms `timeout_keep_alive` only after a
response), and one that sends endless headers grows the process without bound (httptools keeps a
header until it ends). docs/slow-clients.md has the measurements. The deadline runs from the
connection's start for its first request, and from a later request's first byte on a
keep-alive connection (until then `timeout_keep_alive` bounds the idle wait); trickling does
not move it. The body has its own deadline (web/bodies.py).

This subclasses uvicorn's protocol, so it leans on a few of its internals: the request's `scope`
(a new one from each request's first byte, its `method` set once its headers are complete),
`transport`, `cycle` and `server_state.default_headers`. tests/integration/test_slow_clients.py
holds it to what it promises against a real `threadr serve`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from .responses import encode
from .schemas import ErrorBody

# Bodies in the app's error shape, made once (the codes are in docs/api.md's table).
TIMED_OUT = encode(
    ErrorBody("The request line and headers took too long to arrive.", code="header_timeout")
)
TOO_LARGE = encode(
    ErrorBody("The request line and headers are too large.", code="headers_too_large")
)


def guarded_protocol(*, timeout: float, max_bytes: int) -> type[asyncio.Protocol]:
    """What `threadr serve` passes uvicorn as its `http` protocol: a picklable factory, so that
    every worker process builds the same one."""
    return cast(
        "type[asyncio.Protocol]",
        functools.partial(GuardedHttpToolsProtocol, head_timeout=timeout, head_bytes=max_bytes),
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request head that takes longer than `head_timeout` seconds
    is answered `408` (the connection closed; one that sent nothing is just closed), and one
    larger than `head_bytes` is answered `431` and closed, at most one read past the cap.

    All of it happens after each read is parsed: a head is under way when the parser has begun
    a request (uvicorn's `on_message_begin` gives it a new scope) whose headers are not complete
    (its `on_headers_complete` sets the scope's method first). Per read nothing else runs, so a
    request whose head arrives in one read (nearly all of them) pays one call and two checks.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        head_timeout: float,
        head_bytes: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timeout = head_timeout
        self._head_bytes = head_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        # Bytes of the reads that carried the head under way: a read that also held the end of
        # the previous request counts whole, a few KB at worst.
        self._head_size = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # The first request's head is due this long after the connection is made, so that one
        # that never sends a byte is bounded too.
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        scope = self.scope
        if scope is None or "method" in scope:  # no head under way (_head_under_way, inlined)
            self._head_size = 0
            if self._head_timer is not None and scope is not None:
                self._stop_head_timer()  # the first head is complete
            return
        if self.transport.is_closing():
            return  # refused by the parser already (400)
        self._head_size += len(data)
        if self._head_size > self._head_bytes:
            self._refuse(431, TOO_LARGE)
        elif self._head_timer is None:
            # A later request on a kept-alive connection, begun but not complete: its deadline
            # runs from here (until now KEEP_ALIVE_SECONDS bounded the wait).
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _head_under_way(self) -> bool:
        scope = self.scope
        return scope is not None and "method" not in scope

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A request is being answered, and the late head is pipelined behind it: that
            # answer is still sent, and the connection closed after it.
            self.cycle.keep_alive = False
        elif self._head_under_way():
            self._refuse(408, TIMED_OUT)
        else:
            self.transport.close()  # connected and sent nothing: no request to answer

    def _refuse(self, status: int, body: bytes) -> None:
        """Answer `status` with a JSON error body, as the app's errors look, and close."""
        self._stop_head_timer()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/json\r\nconnection: close\r\n")
        head.append(b"content-length: %d\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()
