"""GET /docs: interactive API docs (Swagger UI) on GET /openapi.json, every asset served by the
service itself — the page and its start-up script from this package (static/docs/), Swagger UI
from the swagger-ui-py package — so they work offline and load nothing from elsewhere."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from threadr.errors import NotFound

PAGE = "index.html"
OWN = Path(__file__).with_name("static") / "docs"
# name → (where it is, content type); nothing else is served under /docs/.
ASSETS = {
    PAGE: ("own", "text/html; charset=utf-8"),
    "docs.js": ("own", "text/javascript; charset=utf-8"),
    "index.css": ("swagger", "text/css; charset=utf-8"),
    "swagger-ui.css": ("swagger", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": ("swagger", "text/javascript; charset=utf-8"),
    "favicon-32x32.png": ("swagger", "image/png"),
}
# Swagger UI's files change only with the package; the page and its script with a deploy, so
# they are checked again each time (their ETag makes that a 304).
CACHED = "public, max-age=86400"
REVALIDATED = "no-cache"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None where compressing saves nothing (the PNG)
    etag: str
    content_type: str


def swagger_ui_dir() -> Path:
    """The swagger-ui-py package's copy of Swagger UI's dist (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def load(name: str) -> Asset:
    """Read `name` and compress it once."""
    where, content_type = ASSETS[name]
    body = ((OWN if where == "own" else swagger_ui_dir()) / name).read_bytes()
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    gzipped = packed if len(packed) < len(body) * 0.9 else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, gzipped, etag, content_type)


# Read on first use, off the event loop (1.5 MB of script, gzipped), then kept for the life of
# the process: a few MB of static bytes, the same for every request and every app.
_loaded: dict[str, Asset] = {}


async def _asset(name: str) -> Asset:
    asset = _loaded.get(name)
    if asset is None:
        asset = _loaded[name] = await asyncio.to_thread(load, name)
    return asset


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip;q=0` refuses it)."""
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            return not q or q.strip("0.") != ""
    return False


async def _serve(request: Request, name: str) -> Response:
    asset = await _asset(name)
    headers = {
        "ETag": asset.etag,
        "Cache-Control": REVALIDATED if ASSETS[name][0] == "own" else CACHED,
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding", "")):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    return Response(body, headers=headers, media_type=asset.content_type)


async def docs_page(request: Request) -> Response:
    """GET /docs: the page."""
    return await _serve(request, PAGE)


async def docs_asset(request: Request) -> Response:
    """GET /docs/{name}: a file the page loads."""
    name = request.path_params["name"]
    if name not in ASSETS or name == PAGE:
        raise NotFound("There is no such file of the API docs.", code="not_found")
    return await _serve(request, name)
