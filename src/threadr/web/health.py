"""GET /health, GET / and GET /readiness: what load balancers and operators probe."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from threadr.services import Services

from .context import services
from .responses import JSON, error_response, json_headers, start_message
from .schemas import Health, Readiness, ServiceStates

# GET and HEAD of these are answered ahead of Starlette (middleware/probes.py).
PATHS = ("/health", "/")


def health(running: Services) -> Health:
    return _health_of(running.watch.status, bool(running.settings.openai_api_key), running.version)


@functools.cache
def _health_of(redis: str, openai: bool, version: str) -> Health:
    return Health(
        status="degraded" if redis == "disconnected" else "healthy",
        services=ServiceStates(
            redis=redis,  # type: ignore[arg-type]
            openai="configured" if openai else "not_configured",
        ),
        version=version,
    )


@functools.cache
def _health_answer(health: Health) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages of a health answer (never changed by whoever sends them on)."""
    body = msgspec.json.encode(health)
    start = start_message(200, tuple(json_headers(body)))  # a tuple: nobody changes it in place
    return start, {"type": "http.response.body", "body": body}


class HealthEndpoint:
    """200 while the process can serve; Redis's state is the circuit breaker's. Load balancers
    call this constantly: plain ASGI (like POST /api/generate, for its cost), its few possible
    answers built once."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = _health_answer(health(scope["state"]["threadr"]))
        await send(start.copy())  # a dict of its own: a layer may set its headers anew
        await send(body)


async def readiness(request: Request) -> Response:
    """503 while a configured Redis does not answer: the circuit breaker's state, the one
    /health and every store read (kept current by the watch, storage/watch.py)."""
    running = services(request)
    if running.watch.redis is not None and not running.watch.connected:
        return error_response(
            503,
            "Redis is configured but does not answer.",
            "redis_unavailable",
            {"Retry-After": "1"},
            ready=False,
        )
    return JSON(Readiness(ready=True, health=health(running)))
