"""GET /playground: the page and its files load with their types and the page CSP, and reference
nothing inline and nothing from another site (so the strict CSP holds and it works offline).
That it works is shown in a real browser: tests/integration/test_browser.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.factories import make_settings, running_app
from threadr.web.middleware.edge import PAGE_CSP

# The kind of content each referenced file must be served as.
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


class Markup(HTMLParser):
    """Every element's attributes, and whether a script or style element holds inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline.append(f"<{self._open}>{data.strip()[:40]}")


async def test_the_page_and_its_assets_load_from_this_service_only() -> None:
    async with running_app(make_settings()) as client:
        page = await client.get("/playground")
        markup = Markup()
        markup.feed(page.text)
        references = [
            (tag, name, value)
            for tag, attrs in markup.elements
            for name, value in attrs.items()
            if name in ("src", "href") and value is not None
        ]
        assets = {
            value: await client.get(value)
            for tag, _, value in references
            if tag in ("script", "link") and not value.startswith("data:")
        }

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == PAGE_CSP.decode()
    assert page.headers["x-content-type-options"] == "nosniff"
    # Nothing inline: no script or style element with code, no style attribute, no on* handler.
    assert markup.inline == []
    assert not [tag for tag, _ in markup.elements if tag == "style"]
    for tag, attrs in markup.elements:
        assert not {"style", *(a for a in attrs if a.startswith("on"))} & attrs.keys(), tag
    # Every reference is a path on this service (or the empty data: favicon).
    for tag, name, value in references:
        assert re.fullmatch(r"/[a-z][\w/.-]*", value) or value == "data:,", (tag, name, value)
    assert set(assets) == {"/playground/playground.js", "/playground/playground.css"}
    for path, response in assets.items():
        assert response.status_code == 200, path
        assert response.headers["content-type"] == TYPES[path[path.rindex(".") :]]
        assert response.headers["content-security-policy"] == PAGE_CSP.decode()
        # The code calls this service only (CSP connect-src 'self'), by path; it loads nothing.
        assert not re.search(r"https?://|@import|url\(|import\(", response.text), path
    assert '"/api/generate"' in assets["/playground/playground.js"].text


async def test_assets_are_revalidated_by_etag() -> None:
    async with running_app(make_settings()) as client:
        first = await client.get("/playground/playground.js")
        again = await client.get(
            "/playground/playground.js", headers={"if-none-match": first.headers["etag"]}
        )
        head = await client.head("/playground")
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "text/html; charset=utf-8"


async def test_only_the_pages_files_are_served() -> None:
    async with running_app(make_settings()) as client:
        answers = [
            await client.get(path)
            for path in (
                "/playground/nope.js",
                "/playground/index.html",  # the page lives at /playground only
                "/playground/..%2Fplayground.py",
                "/playground/static/playground.js",
            )
        ]
    for answer in answers:
        assert answer.status_code == 404, answer.url
        assert answer.json()["code"] == "not_found"
