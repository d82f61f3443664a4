"""HTTP handlers: thin — decode, call the domain, encode."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .admission import QuotaAccount
from .bodies import decode_body, read_body
from .errors import ThreadrError
from .generate import validate
from .models import GenerateRequest, Health, Services, ThreadResponse
from .responses import JSON, encode, send_json

if TYPE_CHECKING:
    from .state import AppState

_decode_generate = msgspec.json.Decoder(GenerateRequest)


def _state(request: Request) -> AppState:
    # The lifespan's state, read from the scope: `request.state` would build a wrapper each time.
    state: AppState = request.scope["state"]["threadr"]
    return state


def identity(request: Request) -> str:
    return client_host(request.scope)


def client_host(scope: Scope) -> str:
    """Who is asking: the client IP as uvicorn reports it after trusted-proxy handling
    (FORWARDED_ALLOW_IPS), so a raw X-Forwarded-For from anyone else is never believed."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class Generate:
    """POST /api/generate: a numbered thread from `{"url"}` or `{"text"}`.

    Plain ASGI, not a Request → Response handler (Starlette's Route takes a class instance as
    an ASGI app): a cache hit is the hot path, and Starlette's request and response objects
    cost more than the rest of it. Errors raised here reach the app's exception handlers as
    from any route: nothing has been sent before they are raised.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app: AppState = scope["state"]["threadr"]
        body = await read_body(scope, receive, app.settings.max_body_bytes)
        source = validate(decode_body(body, _decode_generate), app.settings)
        who = client_host(scope)
        headers, entry = await app.admission.enter(who, source.key)
        cached = entry is not None  # a hit costs no quota
        if entry is None:
            try:
                entry = await app.service.generate(source, QuotaAccount(app.quota, who))
            except ThreadrError as exc:
                exc.headers.update(headers)  # errors after the limiter carry its headers too
                raise
        response = ThreadResponse(
            thread=entry.thread,
            source_type=entry.source_type,
            title=entry.title,
            cached=cached,
            generator=entry.generator,
        )
        headers["X-Cache"] = "HIT" if cached else "MISS"
        await send_json(send, encode(response), headers)


async def rate_limit_status(request: Request) -> Response:
    """GET /api/rate-limit-status: the caller's limits, without consuming anything."""
    app = _state(request)
    limiter = app.admission.limiter
    decision = await limiter.peek(identity(request))
    policies = [
        {
            "name": p.name,
            "limit": p.limit,
            "window_seconds": p.window,
            "remaining": p.remaining,
            "reset_in_seconds": p.full_reset,
        }
        for p in decision.policies
    ]
    hourly = decision.policy("hourly")
    limit = hourly.limit if hourly else limiter.settings.requests
    remaining = hourly.remaining if hourly else limit
    reset = hourly.full_reset if hourly else 0
    return JSON(
        {
            "requests_used": limit - remaining,
            "requests_remaining": remaining,
            "total_limit": limit,
            "window_hours": limiter.settings.window_hours,
            "minutes_until_reset": -(-reset // 60),
            "reset_in_seconds": reset,
            "using_redis": limiter.using_redis,
            "enabled": limiter.settings.enabled,
            "policies": policies,
        }
    )


async def usage_status(request: Request) -> Response:
    """GET /api/usage/status: the caller's free-tier usage."""
    app = _state(request)
    return JSON(await app.quota.status(identity(request)))


def _health(app: AppState) -> Health:
    return _health_of(app.watch.status, bool(app.settings.openai_api_key), app.version)


@functools.cache
def _health_of(redis: str, openai: bool, version: str) -> Health:
    return Health(
        status="degraded" if redis == "disconnected" else "healthy",
        services=Services(
            redis=redis,  # type: ignore[arg-type]
            openai="configured" if openai else "not_configured",
        ),
        version=version,
    )


@functools.cache
def _health_body(health: Health) -> bytes:
    return msgspec.json.encode(health)


class HealthEndpoint:
    """GET /health and GET /: 200 while the process can serve; Redis state from the watcher.
    Load balancers call this constantly: plain ASGI, its few possible bodies encoded once."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, _health_body(_health(scope["state"]["threadr"])), {})


class Probes:
    """Hands GET and HEAD of the health paths to `health` ahead of Starlette's exception
    layers and router, which cost more than the answer (nothing in it can fail); all else
    goes on to `app`. The routes stay in the router too, for 405s and the route list."""

    paths = frozenset({"/health", "/"})
    methods = frozenset({"GET", "HEAD"})

    def __init__(self, app: ASGIApp, health: ASGIApp) -> None:
        self.app = app
        self.health = health

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in self.paths
            and scope["method"] in self.methods
        ):
            await self.health(scope, receive, send)
        else:
            await self.app(scope, receive, send)


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
