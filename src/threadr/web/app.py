"""The ASGI application: routes, lifespan-owned resources, error mapping, outer middleware."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from threadr.config import Settings
from threadr.errors import ThreadrError
from threadr.observability.logs import configure_logging
from threadr.observability.metrics import Metrics
from threadr.services import Services, build_services

from . import (
    accounts,
    analytics,
    billing,
    emails,
    health,
    limits,
    operator,
    options,
    premium,
    threads,
)
from .docs import docs_asset, docs_page
from .generate import Generate
from .metrics import metrics_routes
from .middleware.client import ClientAddress
from .middleware.cors import Cors
from .middleware.edge import EdgeHeaders
from .middleware.probes import Probes
from .middleware.shortcut import Shortcut
from .middleware.telemetry import Telemetry
from .openapi import openapi_json
from .playground import Playground
from .responses import error_json, error_response
from .rewrite import rewrite
from .stream import generate_stream

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

CORS_ALLOW_HEADERS = ["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"]
CORS_EXPOSE_HEADERS = ["X-Cache", "X-Request-ID", "RateLimit", "RateLimit-Policy", "Retry-After"]
CORS_METHODS = ["GET", "POST", "DELETE", "OPTIONS"]
_HTTP_ERRORS = {
    404: ("not_found", "There is no such endpoint."),
    405: ("method_not_allowed", "That method is not allowed on this endpoint."),
}


def _count_error(request: Request, code: str) -> None:
    """Count an error answered in the usage analytics (a request before the lifespan's state,
    which tests may send, has nowhere to count it)."""
    running: Services | None = request.scope.get("state", {}).get("threadr")
    if running is not None:
        running.analytics.error(code)


def create_app(
    settings: Settings,
    *,
    redis: Redis | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    openai_client: Any | None = None,
    fetcher: Any | None = None,
    reader: Any | None = None,
    stripe_client: Any | None = None,
    while_serving: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
) -> ASGIApp:
    """Build the app. Keyword seams inject fakes; the lifespan builds (and closes) the rest.
    `while_serving()` is entered once start-up is done and left at shutdown: `threadr serve`
    freezes the heap there (a process-wide effect, so never every test's app)."""
    metrics = None
    if settings.metrics_enabled:
        metrics = Metrics(multiprocess_dir=settings.prometheus_multiproc_dir)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Services]]:
        async with contextlib.AsyncExitStack() as stack:
            services = await build_services(
                settings,
                stack,
                redis=redis,
                http_transport=http_transport,
                openai_client=openai_client,
                fetcher=fetcher,
                reader=reader,
                stripe_client=stripe_client,
                metrics=metrics,
            )
            with while_serving():
                yield {"threadr": services}

    async def threadr_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ThreadrError)
        _count_error(request, exc.code)  # every error answered, by its code
        return error_json(exc)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code, detail = _HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(exc.status_code, detail, code, dict(exc.headers or {}))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("Unhandled error", exc_info=exc)
        _count_error(request, "internal_error")
        detail = "Something went wrong on our side; please try again."
        if not settings.production:
            detail = f"{detail} ({type(exc).__name__}: {exc})"
        return error_response(500, detail, "internal_error")

    probe = health.HealthEndpoint()
    generate = Route("/api/generate", Generate(), methods=["POST"])
    app = Starlette(
        debug=False,
        routes=[
            generate,
            # Streaming and rewriting (issue #15): the thread as server-sent events, each tweet
            # as soon as it is final; one tweet of a thread written anew
            Route("/api/generate/stream", generate_stream, methods=["POST"]),
            Route("/api/rewrite", rewrite, methods=["POST"]),
            Route("/api/options", options.list_options, methods=["GET"]),
            Route("/api/rate-limit-status", limits.rate_limit_status, methods=["GET"]),
            Route("/api/usage/status", limits.usage_status, methods=["GET"]),
            *(Route(path, probe, methods=sorted(Probes.methods)) for path in health.PATHS),
            Route("/readiness", health.readiness, methods=["GET", "HEAD"]),
            # Email capture (issue #12); the /api/emails routes are admin-only.
            Route("/api/subscribe", emails.subscribe, methods=["POST"]),
            Route("/api/emails/stats", emails.email_stats, methods=["GET"]),
            Route("/api/emails/export", emails.export_emails, methods=["GET"]),
            Route("/api/emails", emails.remove_email, methods=["DELETE"]),
            # Operator endpoints (admin): /api/cache-stats is the path the setup guide names.
            Route("/api/cache/stats", operator.cache_stats, methods=["GET"]),
            Route("/api/cache-stats", operator.cache_stats, methods=["GET"]),
            Route("/api/cache", operator.delete_cache, methods=["DELETE"]),
            Route("/api/analytics/redis-stats", operator.redis_stats, methods=["GET"]),
            Route("/api/usage/analytics", analytics.usage_analytics, methods=["GET"]),
            # Accounts and sessions, premium (issue #11)
            Route("/api/auth/register", accounts.register, methods=["POST"]),
            Route("/api/auth/login", accounts.login, methods=["POST"]),
            Route("/api/auth/logout", accounts.logout, methods=["POST"]),
            Route("/api/auth/me", accounts.me, methods=["GET"]),
            Route("/api/auth/sessions", accounts.list_sessions, methods=["GET"]),
            Route("/api/auth/sessions/{sid}", accounts.revoke_session, methods=["DELETE"]),
            Route("/api/premium/check", premium.premium_check, methods=["GET"]),
            Route("/api/premium/grant", premium.grant_premium, methods=["POST"]),
            # Payments (Stripe, issue #11): checkout for a signed-in caller; Stripe's webhook
            Route("/api/payment/config", billing.payment_config, methods=["GET"]),
            Route(billing.CHECKOUT_PATH, billing.create_checkout_session, methods=["POST"]),
            Route("/api/webhooks/stripe", billing.stripe_webhook, methods=["POST"]),
            # Saved threads (issue #11): the signed-in caller's history
            Route("/api/threads", threads.list_threads, methods=["GET"]),
            Route("/api/threads/{thread_id}", threads.thread, methods=["GET", "DELETE"]),
            # The playground (issue #14): a page to try the API, its files from the package
            *Playground().routes(),
            # The API described (issue #14): OpenAPI 3.1 from web/endpoints.py, and Swagger UI
            # on it with every asset served from here. Not API endpoints themselves.
            Route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False),
            Route("/docs", docs_page, methods=["GET"], include_in_schema=False),
            Route("/docs/{name}", docs_asset, methods=["GET"], include_in_schema=False),
            # Prometheus metrics (issue #14; docs/operations.md), when METRICS_ENABLED
            *metrics_routes(metrics, settings.metrics_token),
        ],
        exception_handlers={
            ThreadrError: threadr_error,
            HTTPException: http_error,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    # Outermost first: request id, security headers and CORS → metrics and the request's log
    # line → health probes → the client's address behind an edge proxy → POST /api/generate →
    # Starlette (middleware/__init__.py says why there).
    routed: ASGIApp = Shortcut(
        app,
        generate,
        handlers={ThreadrError: threadr_error, HTTPException: http_error},
        server_error=server_error,
    )
    if settings.client_ip_header is not None:
        routed = ClientAddress(routed, settings.client_ip_header)
    inner: ASGIApp = Probes(routed, probe, health.PATHS)
    if metrics is not None or settings.access_log:
        tally = metrics.http if metrics is not None else None
        inner = Telemetry(inner, tally=tally, log_requests=settings.access_log, probes=health.PATHS)
    cors = None
    if settings.cors_origins:  # else no origin may call from a browser: nothing for CORS to add
        cors = Cors(
            settings.cors_origins,
            methods=CORS_METHODS,
            headers=CORS_ALLOW_HEADERS,
            expose=CORS_EXPOSE_HEADERS,
            max_age=600,
        )
    return EdgeHeaders(inner, hsts=settings.production, cors=cors)


def from_environment() -> ASGIApp:
    """The app with the environment's settings, for uvicorn's app factories: the low-level way
    to run workers, `uvicorn --factory threadr.web.app:from_environment --workers N` (each worker
    builds its own; with PROMETHEUS_MULTIPROC_DIR set, /metrics adds them up:
    docs/operations.md). `threadr serve --workers N` is the usual way (cli.py). Logging is set
    up here as `threadr serve` sets it up (uvicorn configures only its own loggers)."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)
