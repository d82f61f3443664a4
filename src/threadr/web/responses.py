"""JSON responses rendered by msgspec — a Response class for Starlette handlers, `send_json` for
the plain-ASGI hot paths — and the one way an error body is built."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.responses import Response
from starlette.types import Send

from threadr.errors import ThreadrError

from .schemas import ErrorBody

encode = msgspec.json.Encoder().encode
_JSON_TYPE = (b"content-type", b"application/json")


class JSON(Response):
    media_type = "application/json"

    def __init__(
        self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(content, status_code, headers)

    def render(self, content: Any) -> bytes:
        return encode(content)


async def send_json(send: Send, body: bytes, headers: dict[str, str], status: int = 200) -> None:
    """A JSON response sent straight to ASGI `send`: what `JSON` does, without the object."""
    raw = json_headers(body)
    for name, value in headers.items():
        raw.append((_header_name(name), value.encode("latin-1")))
    await send(start_message(status, raw))
    await send({"type": "http.response.body", "body": body})


def json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The content headers of a JSON `body`."""
    return [_JSON_TYPE, (b"content-length", b"%d" % len(body))]


def start_message(status: int, headers: Sequence[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


@functools.lru_cache(maxsize=64)
def _header_name(name: str) -> bytes:
    """A header's name as ASGI sends it, lower-case bytes; the hot path's few are remembered."""
    return name.lower().encode("latin-1")


def error_response(
    status: int, detail: str, code: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSON:
    """`{"detail", "code", ...extra}` (an ErrorBody) with this status and these headers."""
    return JSON(ErrorBody(detail, code, **extra), status, headers or None)


def error_json(exc: ThreadrError) -> JSON:
    """The response for an error of the service's tree."""
    return error_response(exc.status, exc.detail, exc.code, exc.headers, **exc.extra)
