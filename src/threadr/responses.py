"""JSON responses rendered by msgspec — a Response class for Starlette handlers, `send_json` for
the plain-ASGI hot paths — and the error body every failure uses."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Send

from .errors import ThreadrError

encode = msgspec.json.Encoder().encode
_JSON_TYPE = (b"content-type", b"application/json")


class JSON(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, None, background)

    def render(self, content: Any) -> bytes:
        return encode(content)


async def send_json(send: Send, body: bytes, headers: dict[str, str], status: int = 200) -> None:
    """A JSON response sent straight to ASGI `send`: what `JSON` does, without the object."""
    raw = [_JSON_TYPE, (b"content-length", b"%d" % len(body))]
    raw += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def error_json(exc: ThreadrError) -> JSON:
    """`{"detail", "code", ...extra}` with the error's status and headers."""
    body: dict[str, Any] = {"detail": exc.detail, "code": exc.code, **exc.extra}
    return JSON(body, exc.status, exc.headers or None)
