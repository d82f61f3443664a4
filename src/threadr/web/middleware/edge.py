"""Request ids and security headers on every HTTP response. They share one layer: each layer
wraps `send` once per request, and this path runs on every cache hit."""

from __future__ import annotations

import random
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SANE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_REQUEST_ID = b"x-request-id"
_ids = random.Random()  # noqa: S311 - seeded from os.urandom once; ids label, never authorise

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    # A JSON API renders nothing: no script, style or frame may load from a response.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-site"),
)
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class EdgeHeaders:
    """Echo the client's X-Request-ID when it is sane, else mint one (also put in
    `scope["state"]["request_id"]` for logs); add the security headers of docs/api.md to every
    HTTP response (HSTS in production)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + ((HSTS,) if hsts else ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                if _SANE_ID.fullmatch(value):
                    request_id = value
                break
        if request_id is None:
            # 128 random bits, not from os.urandom: a request id is a label, not a secret, and
            # urandom's system call was 14 % of a /health request's CPU on the bench machine.
            request_id = b"%032x" % _ids.getrandbits(128)
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        extra = ((_REQUEST_ID, request_id), *self.headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
