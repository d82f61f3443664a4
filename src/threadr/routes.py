"""HTTP handlers: thin — decode, call the domain, encode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from .bodies import decode_body, read_body
from .generate import validate
from .models import CacheEntry, GenerateRequest, Health, Services, ThreadResponse
from .responses import JSON

if TYPE_CHECKING:
    from .state import AppState

_decode_generate = msgspec.json.Decoder(GenerateRequest)
_HIT = {"X-Cache": "HIT"}
_MISS = {"X-Cache": "MISS"}


def _state(request: Request) -> AppState:
    state: AppState = request.state.threadr
    return state


def thread_response(entry: CacheEntry, *, cached: bool) -> JSON:
    body = ThreadResponse(
        thread=entry.thread,
        source_type=entry.source_type,
        title=entry.title,
        cached=cached,
        generator=entry.generator,
    )
    return JSON(body, headers=_HIT if cached else _MISS)


async def generate(request: Request) -> Response:
    """POST /api/generate: a numbered thread from `{"url"}` or `{"text"}`."""
    app = _state(request)
    body = await read_body(request, app.settings.max_body_bytes)
    source = validate(decode_body(body, _decode_generate), app.settings)
    entry = await app.cache.get(source.key)
    if entry is not None:
        return thread_response(entry, cached=True)
    return thread_response(await app.service.generate(source), cached=False)


def _health(app: AppState) -> Health:
    redis = app.watch.status
    return Health(
        status="degraded" if redis == "disconnected" else "healthy",
        services=Services(
            redis=redis,  # type: ignore[arg-type]
            openai="configured" if app.settings.openai_api_key else "not_configured",
        ),
        version=app.version,
    )


async def health(request: Request) -> Response:
    """GET /health and GET /: 200 while the process can serve; Redis state from the watcher."""
    return JSON(_health(_state(request)))


async def readiness(request: Request) -> Response:
    """GET /readiness: 503 while a configured Redis does not answer (checked live)."""
    app = _state(request)
    if app.watch.redis is not None and not await app.watch.check():
        return JSON(
            {
                "detail": "Redis is configured but does not answer.",
                "code": "redis_unavailable",
                "ready": False,
            },
            503,
            {"Retry-After": "5"},
        )
    return JSON({"ready": True, "health": _health(app)})
