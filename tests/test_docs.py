"""docs/api.md covers the service: every route the app serves and every error code it can
answer is named there, so a new endpoint or code cannot ship undocumented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from tests.factories import make_settings
from threadr.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
API_MD = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
# `code="…"` at a raise, `code = "…"` on an error class, the (code, detail) pairs of web/app.py
# and health's readiness error: every way a code is written in src/.
_CODE = re.compile(
    r"""code(?::\s*ClassVar\[str\])?\s*=\s*"([a-z_]+)"|\(\s*"([a-z_]+)",\s*"[A-Z]|"(redis_unavailable)\""""
)


def routes(app: Any) -> list[BaseRoute]:
    """The Starlette app's routes, under the pure-ASGI middleware create_app wraps it in."""
    while not hasattr(app, "routes"):
        app = app.app
    found: list[BaseRoute] = app.routes
    return found


def _documented(path: str) -> str:
    """A pattern for `path` as the docs write it: in backticks, any name for a parameter."""
    parts = (r"\{[a-z_]+\}" if p.startswith("{") else re.escape(p) for p in path.split("/"))
    return r"[` ]" + "/".join(parts) + r"[`? ]"


def error_codes() -> set[str]:
    codes = set()
    for path in (ROOT / "src" / "threadr").rglob("*.py"):
        for match in _CODE.finditer(path.read_text(encoding="utf-8")):
            codes.add(next(group for group in match.groups() if group))
    return codes


def test_every_route_is_in_the_api_docs() -> None:
    paths = {
        route.path
        for route in routes(create_app(make_settings()))
        if isinstance(route, Route | Mount)
    }
    assert paths, "no routes found"
    missing = sorted(p for p in paths if not re.search(_documented(p), API_MD))
    assert not missing, f"routes missing from docs/api.md: {missing}"


def test_every_error_code_is_in_the_api_docs() -> None:
    codes = error_codes()
    assert {"rate_limited", "quota_exceeded", "invalid_token", "method_not_allowed"} <= codes
    missing = sorted(c for c in codes if f"`{c}`" not in API_MD)
    assert not missing, f"error codes missing from docs/api.md: {missing}"
