"""Health probes answered ahead of Starlette's exception layers and router, which cost more
than the answer (nothing in it can fail)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send


class Probes:
    """Hands GET and HEAD of `paths` to `health`; all else goes on to `app`. The routes stay in
    the router too, for 405s and the route list."""

    methods = frozenset({"GET", "HEAD"})

    def __init__(self, app: ASGIApp, health: ASGIApp, paths: Iterable[str]) -> None:
        self.app = app
        self.health = health
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in self.paths
            and scope["method"] in self.methods
        ):
            await self.health(scope, receive, send)
        else:
            await self.app(scope, receive, send)
