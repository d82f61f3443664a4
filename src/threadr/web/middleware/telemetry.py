"""Each request counted for /metrics and logged in one line: route template, method, status,
duration, request id, who was asking (anonymous, account or admin) — never a token, a path's
own values or a query string.

Outside Starlette (middleware/__init__.py gives the order), so a 500 is counted and logged
like any answer, and the health probes, answered ahead of Starlette, are too."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadr.observability.logs import ACCESS_LOGGER
from threadr.observability.metrics import METHODS, UNMATCHED, RequestTally

from ..identity import ANONYMOUS, IDENTITY_KIND

access_log = logging.getLogger(ACCESS_LOGGER)


class Telemetry:
    """Counts every HTTP request into `tally` (when metrics are on) and logs its line (every
    request with `log_requests`, ACCESS_LOG; else those answered 4xx or 5xx). The route is
    the template Starlette's router matched (it sets `scope["route"]` on the scope it was
    given, which is this one), the path of a probe, or "unmatched"."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tally: RequestTally | None,
        log_requests: bool,
        probes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.tally = tally
        self.log_requests = log_requests
        self.probes = frozenset(probes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the client gets if the app raises before it answers
        finished = 0.0

        async def send_watched(message: Message) -> None:
            nonlocal status, finished
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body" and not message.get("more_body"):
                finished = perf_counter()  # the last byte: later work is not the client's wait
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        finally:
            seconds = (finished or perf_counter()) - started
            route = scope.get("route")
            if route is not None:
                template = route.path  # every route of ours has one (Route, Mount)
            elif scope["path"] in self.probes:
                template = scope["path"]  # answered ahead of Starlette's router
            else:
                template = UNMATCHED
            method = scope["method"]
            if method not in METHODS:
                method = "OTHER"
            if self.tally is not None:
                self.tally.record(template, method, status, seconds)
            # Every refused or failed request is logged whatever ACCESS_LOG says: those lines are
            # rare and the ones an operator looks for; a line for every success costs ~35 µs.
            if self.log_requests or status >= 400:
                _log(scope, template, method, status, seconds)


def _log(scope: Scope, route: str, method: str, status: int, seconds: float) -> None:
    # The request id comes from the ContextVar the edge middleware set (observability/logs.py).
    identity = scope.get("state", {}).get(IDENTITY_KIND, ANONYMOUS)
    ms = round(seconds * 1000, 1)
    # The record's own fields (observability/logs.py ACCESS_FIELDS): a JSON line carries them.
    fields = {
        "route": route,
        "method": method,
        "status": status,
        "duration_ms": ms,
        "identity": identity,
    }
    access_log.info("%s %s %d %.1f ms %s", method, route, status, ms, identity, extra=fields)
