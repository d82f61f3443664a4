"""The ASGI application: routes, lifespan-owned resources, error mapping, outer middleware."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from . import routes
from .config import Settings
from .errors import ThreadrError
from .middleware import EdgeHeaders
from .responses import JSON, error_json
from .state import AppState, build_state

log = logging.getLogger(__name__)

CORS_ALLOW_HEADERS = ["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"]
CORS_EXPOSE_HEADERS = ["X-Cache", "X-Request-ID", "RateLimit", "RateLimit-Policy", "Retry-After"]
CORS_METHODS = ["GET", "POST", "DELETE", "OPTIONS"]


def create_app(
    settings: Settings,
    *,
    redis: Redis | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    openai_client: Any | None = None,
    fetcher: Any | None = None,
) -> ASGIApp:
    """Build the app. Keyword seams inject fakes; the lifespan builds (and closes) the rest."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, AppState]]:
        async with contextlib.AsyncExitStack() as stack:
            state = await build_state(
                settings,
                stack,
                redis=redis,
                http_transport=http_transport,
                openai_client=openai_client,
                fetcher=fetcher,
            )
            # Start-up built ~100k long-lived objects (the SDKs' models among them); every full
            # garbage collection would scan them all again (~26 ms each on the bench machine).
            # Frozen, the collector sees only what requests allocate. The young generations
            # are collected first, so that start-up's own garbage is not frozen with them (a
            # full collection here would cost each test's app as much again).
            gc.collect(1)
            gc.freeze()
            try:
                yield {"threadr": state}
            finally:
                gc.unfreeze()  # collectable again once this app is gone (tests make many)

    async def threadr_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ThreadrError)
        return error_json(exc)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = {
            404: "There is no such endpoint.",
            405: "That method is not allowed on this endpoint.",
        }.get(exc.status_code, str(exc.detail))
        return JSON({"detail": detail, "code": code}, exc.status_code, dict(exc.headers or {}))

    async def server_error(_: Request, exc: Exception) -> Response:
        log.exception("Unhandled error", exc_info=exc)
        detail = "Something went wrong on our side; please try again."
        if not settings.production:
            detail = f"{detail} ({type(exc).__name__}: {exc})"
        return JSON({"detail": detail, "code": "internal_error"}, 500)

    health = routes.HealthEndpoint()
    app = Starlette(
        debug=False,
        routes=[
            Route("/api/generate", routes.Generate(), methods=["POST"]),
            Route("/api/rate-limit-status", routes.rate_limit_status, methods=["GET"]),
            Route("/api/usage/status", routes.usage_status, methods=["GET"]),
            # GET and HEAD of these are answered ahead of the router (routes.Probes).
            *(
                Route(path, health, methods=sorted(routes.Probes.methods))
                for path in routes.Probes.paths
            ),
            Route("/readiness", routes.readiness, methods=["GET", "HEAD"]),
        ],
        exception_handlers={
            ThreadrError: threadr_error,
            HTTPException: http_error,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    # Outermost first: CORS → request id and security headers → health probes → Starlette
    # (see middleware.py and routes.Probes).
    inner = EdgeHeaders(routes.Probes(app, health), hsts=settings.production)
    if not settings.cors_origins:
        return inner  # no origin may call from a browser: nothing for CORS to add
    return CORSMiddleware(
        inner,
        allow_origins=list(settings.cors_origins),
        allow_methods=CORS_METHODS,
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age=600,
    )
