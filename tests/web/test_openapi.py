"""GET /openapi.json: every route of the app is in it and nothing else, it is valid OpenAPI 3.1,
its schemas are the msgspec Structs' own, every error code the source can raise is listed, and
the access each operation declares is the one the app enforces."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import msgspec
import pytest
from fakeredis import FakeAsyncRedis as FakeRedis
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.routing import BaseRoute, Route

from tests.factories import make_settings, running_app
from threadr.web.app import create_app
from threadr.web.endpoints import ENDPOINTS, Endpoint, merge
from threadr.web.openapi import REF, document, document_bytes
from threadr.web.schemas import ErrorBody

SRC = Path(__file__).resolve().parents[2] / "src" / "threadr"
ADMIN_KEY = "an-admin-key-of-the-tests"
# Limits no test request reaches: refused admin keys count on the ordinary ones.
SETTINGS = make_settings(API_KEYS=ADMIN_KEY, RATE_LIMIT_BURST="1000", RATE_LIMIT_REQUESTS="1000")
# Routes the app serves that are not API operations, each for its reason (include_in_schema=False
# on their routes). GET /metrics is one too for the router, but is documented: its token and
# its format are the operators' API.
NOT_OPERATIONS = {
    "/openapi.json": "the document itself",
    "/docs": "the interactive docs: an HTML page",
    "/docs/{name}": "the interactive docs' scripts, styles and icon",
    "/playground": "the playground: an HTML page",
    "/playground/{name}": "the playground's scripts and styles",
}
# Codes any request may get, whatever its endpoint: the router's 404 and 405, the framework's
# other errors, a fault of ours (a 500 is never documented: it is a bug), and the HTTP
# protocol's answers to a request head too slow or too large, before any route (web/protocol.py).
ANYWHERE = {
    *("not_found", "method_not_allowed", "http_error", "internal_error"),
    *("header_timeout", "headers_too_large"),
}
# Defaults of errors.py's classes that nothing raises without a code of its own.
NEVER_BARE = {"bad_request", "forbidden", "url_blocked", "conflict"}
_CODE = re.compile(
    r"""\bcode(?::\s*ClassVar\[str\])?\s*=\s*"([a-z_]+)"|error_response\([^)]*?"([a-z_]+)","""
)


def app_routes(app: Any) -> list[BaseRoute]:
    """The Starlette app's routes, under the pure-ASGI middleware create_app wraps it in."""
    while not hasattr(app, "routes"):
        app = app.app
    found: list[BaseRoute] = app.routes
    return found


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item}


def test_every_route_of_the_app_is_in_the_document_and_nothing_else() -> None:
    served: set[tuple[str, str]] = set()
    shown: set[tuple[str, str]] = set()
    for route in app_routes(create_app(make_settings())):
        assert isinstance(route, Route), f"{route!r}: a route kind this test cannot read"
        # Starlette answers HEAD wherever it answers GET; the document says so in the summary.
        methods = {(route.path, method) for method in route.methods or () if method != "HEAD"}
        served |= methods
        if route.include_in_schema:
            shown |= methods
    documented = operations(document())
    assert shown - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "operations the app does not serve"
    left_out = {path for path, _ in served - documented}
    assert left_out == NOT_OPERATIONS.keys(), "a route left out of the document without a reason"


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(doc).validate()


async def test_it_is_served_as_built_once() -> None:
    async with running_app(make_settings()) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == document_bytes()
    assert response.json() == msgspec.json.decode(msgspec.json.encode(document()))
    assert document_bytes() is document_bytes()  # encoded once


def test_the_schemas_are_the_structs_own() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    types = [e.body for e in ENDPOINTS if e.body] + [e.request for e in ENDPOINTS if e.request]
    types += [struct for e in ENDPOINTS for _, struct in e.events]
    _, generated = msgspec.json.schema_components([*types, ErrorBody], ref_template=REF)
    assert schemas == generated
    generate = doc["paths"]["/api/generate"]["post"]
    body = generate["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/GenerateRequest"}
    assert schemas["GenerateRequest"]["additionalProperties"] is False  # forbid_unknown_fields
    ok = generate["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ThreadResponse"}


def test_errors_list_their_codes_in_the_error_body() -> None:
    responses = document()["paths"]["/api/generate"]["post"]["responses"]
    quota = responses["402"]["content"]["application/json"]["schema"]
    assert quota["allOf"] == [{"$ref": "#/components/schemas/ErrorBody"}]
    assert quota["properties"]["code"]["enum"] == ["quota_exceeded"]
    assert "`rate_limited`" in responses["429"]["description"]
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= responses["429"]["headers"].keys()
    assert responses["200"]["headers"]["X-Cache"] == {"$ref": "#/components/headers/X-Cache"}
    statuses = [int(status) for status in responses]
    assert statuses == [200, 400, 401, 402, 403, 413, 415, 422, 429, 502, 503, 504]


def source_codes() -> set[str]:
    """Every error code written in the source: `code="…"` at a raise, `code = "…"` on a
    class, the codes handed to error_response."""
    found = set()
    for path in SRC.rglob("*.py"):
        for match in _CODE.finditer(path.read_text(encoding="utf-8")):
            found.add(next(group for group in match.groups() if group))
    return found


def test_every_error_code_of_the_source_is_documented() -> None:
    codes = source_codes()
    assert {"rate_limited", "quota_exceeded", "invalid_token", "redis_unavailable"} <= codes
    documented = {code for e in ENDPOINTS for listed in e.errors.values() for code in listed}
    assert codes - documented - ANYWHERE - NEVER_BARE == set()
    assert documented - codes == set(), "a documented code nothing raises"


def test_merging_error_groups_keeps_each_code_once_in_order() -> None:
    merged = merge({422: ("a", "b")}, {401: ("x",), 422: ("b", "c")})
    assert merged == {401: ("x",), 422: ("a", "b", "c")}
    assert list(merged) == [401, 422]


def _request(endpoint: Endpoint) -> dict[str, Any]:
    path = re.sub(r"\{[a-z_]+\}", "x", endpoint.path)
    kwargs: dict[str, Any] = {"method": endpoint.method, "url": path}
    if endpoint.request is not None:
        kwargs["json"] = endpoint.example or {}  # a valid body: checked before the token
    return kwargs


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    redis = FakeRedis(server=fakeredis.FakeServer())
    async with running_app(SETTINGS, redis=redis) as client:
        yield client
    await redis.aclose()


async def test_each_operation_asks_for_the_credentials_it_declares(
    client: httpx.AsyncClient,
) -> None:
    for endpoint in ENDPOINTS:
        anonymous = await client.request(**_request(endpoint))
        bogus = await client.request(**_request(endpoint), headers={"Authorization": "Bearer x"})
        where = f"{endpoint.method} {endpoint.path}"
        if endpoint.access == "admin":
            assert anonymous.status_code == 401, where
            assert anonymous.json()["code"] == "unauthorized", where
            keyed = await client.request(**_request(endpoint), headers={"X-API-Key": ADMIN_KEY})
            assert keyed.status_code != 401, where
        elif endpoint.access == "session":
            assert anonymous.status_code == 401, where
            assert anonymous.json()["code"] == "not_signed_in", where
            assert bogus.json()["code"] == "invalid_token", where
        else:
            assert anonymous.status_code != 401, where
            if endpoint.access == "token":
                assert bogus.status_code == 401, where
                assert bogus.json()["code"] == "invalid_token", where
        assert (
            str(anonymous.status_code)
            in document()["paths"][endpoint.path][endpoint.method.lower()]["responses"]
        ), where


def test_a_streams_events_are_described_with_their_data() -> None:
    stream = document()["paths"]["/api/generate/stream"]["post"]
    events = stream["responses"]["200"]["content"]["text/event-stream"]["schema"]["oneOf"]
    described = {
        e["properties"]["event"]["const"]: e["properties"]["data"]["contentSchema"]["$ref"]
        for e in events
    }
    assert described == {
        "meta": "#/components/schemas/StreamMeta",
        "tweet": "#/components/schemas/Tweet",
        "done": "#/components/schemas/ThreadResponse",
        "error": "#/components/schemas/ErrorBody",
    }
    assert all(e["properties"]["data"]["contentMediaType"] == "application/json" for e in events)
    # Errors before the first tweet are JSON, with the statuses of POST /api/generate.
    generate = document()["paths"]["/api/generate"]["post"]
    assert stream["responses"].keys() == generate["responses"].keys()
    assert stream["responses"]["402"]["content"] == generate["responses"]["402"]["content"]
