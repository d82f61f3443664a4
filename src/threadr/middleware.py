"""Pure-ASGI middleware that wraps the whole app: request ids and security headers.

Order (outermost first), set in app.create_app: CORS → SecurityHeaders → RequestId → Starlette.
They sit outside Starlette's ServerErrorMiddleware, so even a 500 carries every header.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SANE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_REQUEST_ID = b"x-request-id"

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    # A JSON API renders nothing: no script, style or frame may load from a response.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-site"),
)
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class RequestId:
    """Echo the client's X-Request-ID when it is sane, else mint one; put it on the response
    and in `scope["state"]["request_id"]` for logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            request_id = uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        header = (_REQUEST_ID, request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


class SecurityHeaders:
    """Add the security headers of docs/api.md to every HTTP response (HSTS in production)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + ((HSTS,) if hsts else ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
