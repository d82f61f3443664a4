"""One JSON response class (msgspec-rendered) and the error body every failure uses."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.background import BackgroundTask
from starlette.responses import Response

from .errors import ThreadrError

_encode = msgspec.json.Encoder().encode


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
        return _encode(content)


def error_json(exc: ThreadrError) -> JSON:
    """`{"detail", "code", ...extra}` with the error's status and headers."""
    body: dict[str, Any] = {"detail": exc.detail, "code": exc.code, **exc.extra}
    return JSON(body, exc.status, exc.headers or None)
