"""CORS and the playground in a real browser: headless Chromium against a real `threadr serve`
process (memory stores, offline writer), with test pages served from other loopback origins —
one listed in CORS_ORIGINS, one not. `make test` installs Debian's chromium when it is missing
(scripts/ensure-chromium); where it cannot be, these tests skip loudly (and fail under CI)."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from threadr.writing.twittertext import weighted_length

from .browser import Chromium, find_chromium, png_size, skipped, static_site
from .processes import threadr_servers

ARTICLE = (
    "A browser guards every page from the sites it did not come from. A script on one origin may "
    "send a request to another, but it may only read the answer when that other site says so, "
    "in headers the browser checks before it hands anything over. Requests that could change "
    "something, or that carry credentials such as a bearer token, are asked about first with a "
    "preflight, and the real request is only sent when the preflight's answer allows it. An API "
    "that a web frontend on another origin calls must answer those questions exactly: the "
    "allowed origins, the headers a request may carry, and the headers a script may read."
)
PLAYGROUND_TEXT = (
    "Caching is the art of remembering answers. When a service does expensive work, such as "
    "fetching an article and asking a language model to summarise it, the result can be kept "
    "and served again in microseconds instead of seconds. A good cache has a key that ignores "
    "differences that do not matter: the same article shared with tracking parameters is still "
    "the same article. It expires entries, so stale answers do not live forever, and it bounds "
    "its memory, so a flood of unique requests cannot exhaust the server. 🚀"
)
POLICY = '"burst";q=10;w=60, "hourly";q=50;w=3600'
# The page the tests open on their own origins: it calls the API the query string names and
# writes what each call saw (status, the headers a script can read, or the error) into the DOM.
PROBE = """<!doctype html>
<meta charset="utf-8"><title>CORS probe</title>
<pre id="result">pending</pre>
<script>
const api = new URLSearchParams(location.search).get("api");
const article = ARTICLE;
const READ = [
  "X-Cache", "X-Request-ID", "RateLimit", "RateLimit-Policy", "Content-Security-Policy",
];
async function attempt(path, init) {
  try {
    const response = await fetch(api + path, init);
    const headers = Object.fromEntries(READ.map((name) => [name, response.headers.get(name)]));
    return {status: response.status, headers, body: await response.json()};
  } catch (error) {
    return {error: `${error.name}: ${error.message}`};
  }
}
// A stream read as a frontend reads it: fetch() and the body's ReadableStream, events parsed
// as their bytes arrive.
async function stream(path, init) {
  try {
    const response = await fetch(api + path, init);
    const headers = Object.fromEntries(
      ["X-Cache", "Content-Type"].map((name) => [name, response.headers.get(name)]));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const events = [];
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\\n\\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const name = /^event: (.*)$/m.exec(block)[1];
        events.push({name, data: JSON.parse(/^data: (.*)$/m.exec(block)[1])});
      }
    }
    return {status: response.status, headers, events};
  } catch (error) {
    return {error: `${error.name}: ${error.message}`};
  }
}
function post(body) {
  return {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  };
}
async function main() {
  const generate = post({text: article});
  const signedIn = {
    headers: {"Authorization": "Bearer thr_not_a_live_token", "X-Request-ID": "probe-1"},
  };
  const results = {
    first: await attempt("/api/generate", generate),
    again: await attempt("/api/generate", generate),
    signed_in: await attempt("/api/auth/me", signedIn),
    // Other options: another entry, so a miss, told tweet by tweet.
    stream: await stream("/api/generate/stream", post({text: article, options: {length: "short"}})),
  };
  const thread = results.first.body ? results.first.body.thread : ["One.", "Two."];
  results.rewrite = await attempt("/api/rewrite", post({thread, index: 1, text: article}));
  document.getElementById("result").textContent = JSON.stringify(results);
}
main();
</script>
""".replace("ARTICLE", json.dumps(ARTICLE), 1)


@dataclass
class Sites:
    api: str  # the threadr serve process
    allowed: str  # an origin in its CORS_ORIGINS
    other: str  # an origin that is not


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        reason = (
            "Chromium is not installed, so the browser tests (CORS, the playground) did not run: "
            "`make test` installs Debian's chromium (scripts/ensure-chromium), or set CHROMIUM."
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        skipped.append(reason)
        pytest.skip(reason)
    return binary


@pytest.fixture
def chromium(chromium_binary: str, tmp_path: Path) -> Chromium:
    """The browser, each run with a fresh profile under tmp_path."""
    return Chromium(chromium_binary, tmp_path)


@pytest.fixture(scope="module")
def sites(chromium_binary: str) -> Iterator[Sites]:
    """The API (no Redis: memory stores) allowing one page origin, and a second page origin."""
    pages = {"/probe.html": PROBE}
    with (
        static_site(pages) as allowed,
        static_site(pages) as other,
        threadr_servers(1, {"CORS_ORIGINS": allowed}) as (port,),
    ):
        yield Sites(api=f"http://127.0.0.1:{port}", allowed=allowed, other=other)


def probe(chromium: Chromium, origin: str, api: str) -> tuple[dict[str, Any], list[str]]:
    """Open the probe page on `origin` against `api`: what each of its calls saw, and the
    browser's console."""
    page = chromium.dump_dom(f"{origin}/probe.html?api={urllib.parse.quote(api)}")
    result = LexborHTMLParser(page.dom).css_first("#result")
    assert result is not None, page.dom
    found: dict[str, Any] = json.loads(result.text())
    return found, page.console


@pytest.fixture(scope="module")
def allowed(
    chromium_binary: str, sites: Sites, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What the probe page saw from the allowed origin (one browser run for the tests below)."""
    browser = Chromium(chromium_binary, tmp_path_factory.mktemp("chromium"))
    seen, console = probe(browser, sites.allowed, sites.api)
    assert console == []  # nothing blocked, nothing failed
    return seen


def test_an_allowed_origin_reads_the_thread_and_the_exposed_headers(
    allowed: dict[str, Any],
) -> None:
    first, again = allowed["first"], allowed["again"]
    assert first["status"] == 200, first
    assert first["body"]["success"] and len(first["body"]["thread"]) >= 2
    # Exposed by CORS, so a script reads them ...
    assert (first["headers"]["X-Cache"], again["headers"]["X-Cache"]) == ("MISS", "HIT")
    assert first["headers"]["RateLimit-Policy"] == POLICY
    assert first["headers"]["RateLimit"].startswith('"burst";r=')
    assert len(first["headers"]["X-Request-ID"]) == 32
    # ... and a header that is not exposed stays hidden from it.
    assert first["headers"]["Content-Security-Policy"] is None
    assert again["body"]["thread"] == first["body"]["thread"] and again["body"]["cached"]


def test_a_preflight_with_authorization_passes(allowed: dict[str, Any]) -> None:
    # Authorization (and X-Request-ID) make the browser ask with a preflight first. The answer
    # itself is a refusal — a token needs Redis to be checked, and this service has none — but
    # the script can read it: the preflight allowed the request, and the status got through.
    signed_in = allowed["signed_in"]
    assert "error" not in signed_in, signed_in
    assert signed_in["status"] in (401, 503), signed_in
    assert isinstance(signed_in["body"]["detail"], str) and signed_in["body"]["code"]
    assert signed_in["headers"]["X-Request-ID"] == "probe-1"


def test_an_allowed_origin_reads_the_stream_event_by_event(allowed: dict[str, Any]) -> None:
    stream = allowed["stream"]
    assert stream["status"] == 200, stream
    assert stream["headers"]["X-Cache"] == "MISS"  # exposed by CORS
    assert stream["headers"]["Content-Type"].startswith("text/event-stream")
    names = [event["name"] for event in stream["events"]]
    assert names[0] == "meta" and names[-1] == "done" and set(names[1:-1]) == {"tweet"}
    done = stream["events"][-1]["data"]
    assert [e["data"] for e in stream["events"][1:-1]] == done["thread"]
    assert done["success"] and not done["cached"]


def test_an_allowed_origin_calls_rewrite(allowed: dict[str, Any]) -> None:
    rewrite, thread = allowed["rewrite"], allowed["first"]["body"]["thread"]
    assert rewrite["status"] == 200, rewrite
    tweet = rewrite["body"]["tweet"]
    assert (tweet["number"], tweet["total"]) == (2, len(thread))
    assert tweet["content"].startswith(f"2/{len(thread)} ") and tweet["character_count"] <= 280
    assert rewrite["headers"]["RateLimit"].startswith('"burst";r=')


def test_another_origin_is_blocked_by_the_browser(chromium: Chromium, sites: Sites) -> None:
    seen, console = probe(chromium, sites.other, sites.api)
    calls = ("first", "again", "signed_in", "stream", "rewrite")
    assert seen == {name: {"error": "TypeError: Failed to fetch"} for name in calls}
    # Blocked by the browser for CORS (the preflight found no Access-Control-Allow-Origin for
    # this origin), not by a network failure.
    assert len(console) == 5 and all("has been blocked by CORS policy" in line for line in console)


def test_the_playground_shows_the_thread_from_a_deep_link(
    chromium: Chromium, sites: Sites, tmp_path: Path
) -> None:
    query = urllib.parse.urlencode({"text": PLAYGROUND_TEXT, "run": "1"})
    url = f"{sites.api}/playground?{query}"
    page = chromium.dump_dom(url)
    assert page.console == []  # no CSP violation, no script error
    dom = LexborHTMLParser(page.dom)
    body = dom.css_first("body")
    assert body is not None and body.attributes["data-state"] == "done", page.dom
    tweets = dom.css("#tweets li.tweet")
    assert len(tweets) >= 2
    for number, tweet in enumerate(tweets, 1):
        content = tweet.css_first(".content")
        count = tweet.css_first(".count")
        assert content is not None and count is not None
        text = content.text()
        assert text.startswith(f"{number}/{len(tweets)} ")
        # The count shown is the API's character_count: X's weighted length, not len().
        weight = weighted_length(text)
        assert count.attributes["data-count"] == str(weight) and weight <= 280
        assert count.text() == f"{weight} / 280"
    assert "🚀" in "".join(t.text() for t in tweets)  # weighs 2: the count is not len()
    assert "X-Cache: MISS" in _text(dom, "#meta")
    assert _text(dom, "#limit-closest").startswith("burst: ")
    assert _text(dom, "#quota-today").startswith("Today: ")
    error = dom.css_first("#error")
    assert error is not None and "hidden" in error.attributes

    shot = tmp_path / "playground.png"
    assert chromium.screenshot(url, shot).console == []
    assert png_size(shot) == (1200, 1400)


def test_the_playground_shows_an_error_as_a_sentence(chromium: Chromium, sites: Sites) -> None:
    query = urllib.parse.urlencode({"url": "ftp://example.com/article", "run": "1"})
    page = chromium.dump_dom(f"{sites.api}/playground?{query}")
    assert page.console == [], page.console
    dom = LexborHTMLParser(page.dom)
    error = dom.css_first("#error")
    assert error is not None and "hidden" not in error.attributes
    assert error.attributes["data-code"] == "url_scheme"
    assert error.text() == "Only http:// and https:// links can be fetched."
    result = dom.css_first("#result")
    assert result is not None and "hidden" in result.attributes


def _text(dom: LexborHTMLParser, selector: str) -> str:
    node = dom.css_first(selector)
    assert node is not None, selector
    return node.text()
