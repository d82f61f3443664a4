"""Request ids, security headers and CORS on every HTTP response. They share one layer: each
layer wraps `send` once per request and reads the request's headers, and this path runs on
every cache hit (CORS as a layer of its own cost a hit 27 Python calls: cors.py)."""

from __future__ import annotations

import random
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadr.observability.logs import REQUEST_ID

from .cors import Cors

_SANE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_REQUEST_ID = b"x-request-id"
_ORIGIN = b"origin"
_ids = random.Random()  # noqa: S311 - seeded from os.urandom once; ids label, never authorise

_BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-site"),
)
# A JSON API renders nothing: no script, style or frame may load from a response.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The HTML pages the service serves itself (interactive docs, the playground): their own
# scripts, styles and API calls, nothing inline, nothing from elsewhere.
PAGE_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    b"frame-ancestors 'none'"
)
PAGE_PREFIXES = ("/docs", "/playground")
SECURITY_HEADERS = (*_BASE_HEADERS, (b"content-security-policy", API_CSP))
PAGE_HEADERS = (*_BASE_HEADERS, (b"content-security-policy", PAGE_CSP))
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class EdgeHeaders:
    """Echo the client's X-Request-ID when it is sane, else mint one (also put in
    `scope["state"]["request_id"]`, and in the logs' REQUEST_ID while the request runs); add
    the security headers of docs/api.md to every HTTP response (HSTS in production); with
    `cors`, its headers too, and answer CORS preflights here (they reach nothing further in:
    neither the metrics nor the log)."""

    def __init__(self, app: ASGIApp, *, hsts: bool, cors: Cors | None = None) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + ((HSTS,) if hsts else ())
        self.page_headers = PAGE_HEADERS + ((HSTS,) if hsts else ())
        self.cors = cors
        # What a request without an Origin gets (nearly all: probes, servers, scripts), built once.
        anywhere = cors.no_origin if cors is not None else ()
        self._plain = (self.headers + anywhere, self.page_headers + anywhere)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = origin = None
        named = False  # the first X-Request-ID counts, sane or not
        for name, value in scope["headers"]:
            if name == _REQUEST_ID and not named:
                named = True
                if _SANE_ID.fullmatch(value):
                    request_id = value
            elif name == _ORIGIN:
                origin = value
        if request_id is None:
            # 128 random bits, not from os.urandom: a request id is a label, not a secret, and
            # urandom's system call was 14 % of a /health request's CPU on the bench machine.
            request_id = b"%032x" % _ids.getrandbits(128)
        rid = request_id.decode()
        scope.setdefault("state", {})["request_id"] = rid
        page = scope["path"].startswith(PAGE_PREFIXES)
        headers = self._plain[page]
        cors = self.cors
        if cors is not None and origin is not None:
            headers = self.page_headers if page else self.headers
            if scope["method"] == "OPTIONS":
                answer = cors.preflight(origin, scope["headers"])
                if answer is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": answer.status,
                            "headers": [*answer.headers, (_REQUEST_ID, request_id), *headers],
                        }
                    )
                    await send({"type": "http.response.body", "body": answer.body})
                    return
            headers = (*headers, *cors.response_headers(origin))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    (_REQUEST_ID, request_id),
                    *headers,
                ]
            await send(message)

        # Every line logged while this request is handled carries its id (observability/logs.py).
        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            REQUEST_ID.reset(token)
