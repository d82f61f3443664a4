"""GET /docs: the page and every file it loads come from the app, with their types, compressed
and cached; nothing names another origin, and the page CSP holds."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.factories import make_settings, running_app
from threadr.web.docs import ASSETS, accepts_gzip
from threadr.web.middleware.edge import PAGE_CSP

TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class References(HTMLParser):
    """Every src= and href= of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.found += [value for key, value in attrs if key in ("src", "href") and value]
        self._in_script = tag == "script"
        if tag == "script" and "src" not in named:
            self.inline_scripts += 1
        assert "style" not in named and not any(key.startswith("on") for key in named), tag

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


async def test_the_page_and_each_file_it_names_load_from_the_app() -> None:
    async with running_app(make_settings()) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == PAGE_CSP.decode()
        references = References()
        references.feed(page.text)
        assert references.inline_scripts == 0
        assert "/docs/docs.js" in references.found
        assert "/docs/swagger-ui-bundle.js" in references.found
        loaded = {"/docs": page.text}
        for url in references.found:
            assert url.startswith("/") and not url.startswith("//"), url  # this origin only
            response = await client.get(url)
            assert response.status_code == 200, url
            if url.startswith("/docs/"):
                suffix = url[url.rindex(".") :]
                assert response.headers["content-type"].startswith(TYPES[suffix]), url
                if suffix != ".png":
                    loaded[url] = response.text
    # The document the page starts Swagger UI on, and no validator badge (an image from
    # validator.swagger.io): nothing the page or its own script names is elsewhere.
    script = loaded["/docs/docs.js"]
    assert 'url: "/openapi.json"' in script and "validatorUrl: null" in script
    for own in ("/docs", "/docs/docs.js"):
        assert not re.search(r"https?://", loaded[own]), own
    # Swagger UI's styles load nothing either: every url() in them is inline data.
    for css in ("/docs/swagger-ui.css", "/docs/index.css"):
        urls = re.findall(r"url\(\s*['\"]?([^'\")]*)", loaded[css])
        assert all(u.startswith("data:") for u in urls), css


async def test_files_are_compressed_and_cached() -> None:
    async with running_app(make_settings()) as client:
        raw = await client.get("/docs/swagger-ui-bundle.js", headers={"accept-encoding": "br"})
        packed = await client.get(
            "/docs/swagger-ui-bundle.js", headers={"accept-encoding": "gzip, br"}
        )
        again = await client.get(
            "/docs/swagger-ui-bundle.js", headers={"if-none-match": packed.headers["etag"]}
        )
        page = await client.get("/docs")
    assert "content-encoding" not in raw.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(raw.content) // 3
    assert packed.content == raw.content  # httpx decoded it
    assert packed.headers["cache-control"] == "public, max-age=86400"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert (again.status_code, again.content) == (304, b"")
    assert page.headers["cache-control"] == "no-cache"  # the page and its script: every load


@pytest.mark.parametrize("name", ["index.html", "swagger-editor.js", "..%2F..%2Fconfig.py", "x"])
async def test_nothing_else_is_served(name: str) -> None:
    async with running_app(make_settings()) as client:
        response = await client.get(f"/docs/{name}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_every_listed_file_is_there() -> None:
    from threadr.web.docs import load

    for name in ASSETS:
        assert load(name).body


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("br", False),
        ("", False),
    ],
)
def test_accept_encoding(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok
