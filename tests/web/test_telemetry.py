"""The line per request and the request id on every line: JSON and text formats, who asked,
errors, and no token, key, password, email or path value in any line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import (
    PASSWORD,
    account_settings,
    bearer,
    make_settings,
    metric_value,
    read_metrics,
    running_app,
    sign_up,
)
from threadr.articles.fetch import Page
from threadr.config import Settings
from threadr.observability.logs import REQUEST_ID, configure_logging

ARTICLE = "Logs tell what happened. One line a request. The id ties lines together. " * 4
KEY = "telemetry-admin-key-0123456789abcdef"
WRONG_KEY = "guessed-admin-key-0123456789abcdef"
# What configure_logging turns off process-wide (the test runner's own lines want them back).
LOGGING_FLAGS = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


@contextlib.contextmanager
def logged(settings: Settings) -> Iterator[io.StringIO]:
    """The service's logging (as `threadr` sets it up) into a buffer, for the block's length."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    flags = {name: getattr(logging, name) for name in LOGGING_FLAGS}
    stream = io.StringIO()
    configure_logging(settings, stream, force=True)
    try:
        yield stream
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, value in flags.items():
            setattr(logging, name, value)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in json_lines(stream) if line["logger"] == "threadr.access"]


async def test_json_lines_carry_the_request_id_even_when_a_handler_logs() -> None:
    settings = make_settings(LOG_FORMAT="json", ACCESS_LOG="true", API_KEYS=KEY)
    with logged(settings) as stream:
        async with running_app(settings) as client:
            refused = await client.get(
                "/api/cache/stats", headers={"X-API-Key": WRONG_KEY, "X-Request-ID": "trace-1"}
            )
            assert REQUEST_ID.get() is None  # set for the request only
    assert refused.status_code == 401
    lines = json_lines(stream)
    traced = [line for line in lines if line["request_id"] == "trace-1"]
    assert [line["logger"] for line in traced] == ["threadr.web.admin", "threadr.access"]
    warning, access = traced
    assert warning["level"] == "WARNING" and "admin call refused" in warning["message"]
    assert access["route"] == "/api/cache/stats" and access["method"] == "GET"
    assert access["status"] == 401 and access["identity"] == "anonymous"
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert access["message"].startswith("GET /api/cache/stats 401 ")
    assert access["time"].endswith("Z")
    # Lines outside a request (start-up) say so.
    assert any(line["request_id"] == "-" and "ready" in line["message"] for line in lines)
    assert WRONG_KEY not in stream.getvalue()


async def test_the_identity_kind_and_never_the_credential(fake: FakeRedis) -> None:
    settings = account_settings(LOG_FORMAT="json", ACCESS_LOG="true", API_KEYS=KEY)
    email = "telemetry.person@example.com"
    with logged(settings) as stream:
        async with running_app(settings, redis=fake) as client:
            token = (await sign_up(client, email))["access_token"]
            signed = bearer(token)
            await client.get("/api/auth/me", headers=signed)
            await client.post("/api/generate", json={"text": ARTICLE}, headers=signed)
            await client.post("/api/generate", json={"text": ARTICLE})
            await client.get("/api/cache/stats", headers={"X-API-Key": KEY})
            await client.get(f"/api/threads/{token}", headers={"Authorization": "Bearer nope"})
    kinds = [(line["method"], line["route"], line["identity"]) for line in access_lines(stream)]
    assert kinds == [
        ("POST", "/api/auth/register", "anonymous"),
        ("GET", "/api/auth/me", "account"),
        ("POST", "/api/generate", "account"),
        ("POST", "/api/generate", "anonymous"),
        ("GET", "/api/cache/stats", "admin"),
        ("GET", "/api/threads/{thread_id}", "anonymous"),  # a dead token is nobody
    ]
    # The service's lines (httpx's are the test client's own, naming the URLs it asked for).
    ours = [line for line in json_lines(stream) if not line["logger"].startswith("httpx")]
    text = json.dumps(ours)
    for secret in (token, token.split("_", 2)[2], KEY, PASSWORD, email, "telemetry.person"):
        assert secret not in text


async def test_text_lines_are_readable() -> None:
    settings = make_settings(LOG_FORMAT="text", ACCESS_LOG="true")
    with logged(settings) as stream:
        async with running_app(settings) as client:
            await client.post(
                "/api/generate", json={"text": ARTICLE}, headers={"X-Request-ID": "text-1"}
            )
    [line] = [line for line in stream.getvalue().splitlines() if "threadr.access" in line]
    assert " INFO threadr.access [text-1] POST /api/generate 200 " in line
    assert line.endswith(" ms anonymous")


class Exploding:
    """A fetcher with a bug in it."""

    async def fetch(self, url: str) -> Page:
        raise RuntimeError("a bug")


async def test_a_500_is_counted_and_logged_with_its_request_id() -> None:
    settings = make_settings(LOG_FORMAT="json", ACCESS_LOG="true")
    with logged(settings) as stream:
        async with running_app(settings, fetcher=Exploding()) as client:
            failed = await client.post(
                "/api/generate",
                json={"url": "https://blog.example/post"},
                headers={"X-Request-ID": "boom-1"},
            )
            m = read_metrics((await client.get("/metrics")).text)
    assert failed.status_code == 500
    labels = {"route": "/api/generate", "method": "POST", "status": "500"}
    assert metric_value(m, "threadr_http_requests_total", **labels) == 1
    traced = [line for line in json_lines(stream) if line["request_id"] == "boom-1"]
    error, access = traced
    assert error["level"] == "ERROR" and "RuntimeError: a bug" in error["exception"]
    assert access["status"] == 500 and access["route"] == "/api/generate"


async def test_invented_methods_and_unknown_paths_mint_no_labels() -> None:
    async with running_app(make_settings()) as client:
        brewed = await client.request("BREW", "/api/generate")
        lost = await client.get("/wp-admin/secret-looking-path?token=abc")
        m = read_metrics((await client.get("/metrics")).text)
    assert (brewed.status_code, lost.status_code) == (405, 404)
    total = "threadr_http_requests_total"
    assert metric_value(m, total, route="/api/generate", method="OTHER", status="405") == 1
    assert metric_value(m, total, route="unmatched", method="GET", status="404") == 1
    assert not any("secret-looking" in value for _, labels in m for _, value in labels)


async def test_with_the_access_log_off_requests_are_still_counted() -> None:
    settings = make_settings(LOG_FORMAT="json", ACCESS_LOG="false")
    with logged(settings) as stream:
        async with running_app(settings) as client:
            await client.get("/health")
            m = read_metrics((await client.get("/metrics")).text)
    assert access_lines(stream) == []
    total = "threadr_http_requests_total"
    assert metric_value(m, total, route="/health", method="GET", status="200") == 1


async def test_with_both_off_there_is_nothing_in_the_way() -> None:
    from threadr.web.app import create_app
    from threadr.web.middleware.edge import EdgeHeaders
    from threadr.web.middleware.probes import Probes

    app = create_app(make_settings(ACCESS_LOG="false", METRICS_ENABLED="false"))
    assert isinstance(app, EdgeHeaders) and isinstance(app.app, Probes)


def test_debug_turns_debug_lines_on() -> None:
    with logged(make_settings(DEBUG="true")):
        assert logging.getLogger("threadr").isEnabledFor(logging.DEBUG)
    with logged(make_settings()):
        assert not logging.getLogger("threadr").isEnabledFor(logging.DEBUG)


async def test_without_access_log_only_refused_and_failed_requests_get_a_line() -> None:
    settings = make_settings(LOG_FORMAT="json", ACCESS_LOG="false", API_KEYS=KEY)
    with logged(settings) as stream:
        async with running_app(settings) as client:
            made = await client.post("/api/generate", json={"text": ARTICLE})
            refused = await client.get("/api/cache/stats", headers={"X-API-Key": WRONG_KEY})
    assert (made.status_code, refused.status_code) == (200, 401)
    lines = access_lines(stream)
    assert [(line["route"], line["status"]) for line in lines] == [("/api/cache/stats", 401)]
