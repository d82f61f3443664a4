"""GET /metrics: the Prometheus exposition of observability/metrics.py, on the main port; closed
behind `Authorization: Bearer <METRICS_TOKEN>` when that is set."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadr.errors import Unauthorized
from threadr.observability.metrics import Metrics

Endpoint = Callable[[Request], Awaitable[Response]]


def metrics_endpoint(metrics: Metrics, token: str | None) -> Endpoint:
    """The handler of GET /metrics for `metrics`; open to anyone when `token` is None."""
    expected = token.encode() if token else None

    async def endpoint(request: Request) -> Response:
        if expected is not None:
            scheme, _, sent = request.headers.get("authorization", "").partition(" ")
            # Compared in constant time, whatever was sent: its time says nothing of the token.
            matches = hmac.compare_digest(sent.strip().encode(), expected)
            if scheme.lower() != "bearer" or not matches:
                raise Unauthorized(
                    "Send the metrics token as `Authorization: Bearer <token>`.",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        body, content_type = await metrics.render(request.headers.get("accept", ""))
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    return endpoint


def metrics_routes(metrics: Metrics | None, token: str | None) -> list[Route]:
    """GET /metrics, or no route when metrics are off (METRICS_ENABLED=false: a 404). Described
    in the OpenAPI document by web/endpoints.py (its token, its two formats), not by Starlette's
    own schema generator, hence `include_in_schema=False`."""
    if metrics is None:
        return []
    return [Route("/metrics", metrics_endpoint(metrics, token), include_in_schema=False)]
