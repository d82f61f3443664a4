"""GET /api/options: the thread options POST /api/generate takes, for the frontend's form."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from threadr.writing.options import catalogue

from .responses import JSON
from .schemas import OptionsCatalogue

# The same for every request of a process: encoded once.
_BODY = JSON(OptionsCatalogue(options=catalogue())).body


async def list_options(request: Request) -> Response:
    """GET /api/options: every option with its type, allowed values, default and meaning."""
    return Response(_BODY, media_type="application/json")
