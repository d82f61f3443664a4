"""GET /playground: a page to try the API in a browser — plain HTML, CSS and JavaScript files
shipped inside the package (static/playground/), no build step, nothing inline, nothing from
another site (the page's CSP is middleware/edge.py's PAGE_CSP)."""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/playground"
# Every file the page is made of, with its type: names are looked up here, never joined to a
# path from the request.
FILES = {
    "index.html": "text/html; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
}


class Asset:
    """One file of the page, read once, with its strong ETag."""

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body, self.media_type = body, media_type
        self.etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'

    def response(self, request: Request) -> Response:
        # Revalidated on every load (no-cache), so a deploy shows at once; a 304 costs nothing.
        headers = {"ETag": self.etag, "Cache-Control": "no-cache"}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


class Playground:
    """The page and its assets, read from the package when the app is built."""

    def __init__(self) -> None:
        folder = resources.files("threadr.web") / "static" / "playground"
        self.assets = {
            name: Asset((folder / name).read_bytes(), kind) for name, kind in FILES.items()
        }

    async def page(self, request: Request) -> Response:
        return self.assets["index.html"].response(request)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == "index.html" or name not in self.assets:
            raise HTTPException(404)
        return self.assets[name].response(request)

    def routes(self) -> list[Route]:
        return [
            Route(PATH, self.page, methods=["GET"], include_in_schema=False),
            Route(PATH + "/{name}", self.asset, methods=["GET"], include_in_schema=False),
        ]
