"""One plain-ASGI route answered ahead of Starlette: POST /api/generate, whose cache hit is the hot
path. Starlette's error layers and router cost a hit 21 Python calls (bench/callcount.py:
ServerErrorMiddleware, ExceptionMiddleware and their send wrappers, the router's regular
expression and its Request objects); this costs it 5. Its errors still get the app's own
handlers, chosen as Starlette chooses them, so they answer exactly as from the router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Handler = Callable[[Request, Exception], Awaitable[Response]]


class Shortcut:
    """Hands `route`'s requests (its path, its one method) to its endpoint, a plain-ASGI app;
    all else goes on to `app`. An error the endpoint raises goes to the handler `handlers`
    name for its class (or nearest base class), else to `server_error`, and is raised on
    after it (so the server logs it), as Starlette does. The route stays in the router too,
    for its other methods' 405s and the route list."""

    def __init__(
        self,
        app: ASGIApp,
        route: Route,
        *,
        handlers: Mapping[type[Exception], Handler],
        server_error: Handler,
    ) -> None:
        assert route.methods is not None and len(route.methods) == 1, "one method per shortcut"
        self.app = app
        self.route = route
        self.path = route.path
        (self.method,) = route.methods
        self.endpoint: ASGIApp = route.app  # what the route calls once the method matches
        self.handlers = dict(handlers)
        self.server_error = server_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # what the router sets: the metrics' route template
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.endpoint(scope, receive, watched)
        except Exception as exc:
            handler = self._handler(type(exc))
            if handler is not None and started:
                raise RuntimeError(
                    "Caught handled exception, but response already started"
                ) from exc
            response = await (handler or self.server_error)(Request(scope), exc)
            if not started:
                await response(scope, receive, send)
            if handler is None:
                raise
            exc.__traceback__ = None  # a reused exception would pile up tracebacks

    def _handler(self, kind: type[Exception]) -> Handler | None:
        for cls in kind.__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
