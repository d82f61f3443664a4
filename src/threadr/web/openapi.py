"""GET /openapi.json: the OpenAPI 3.1 document of the API, made from the endpoint table
(endpoints.py) and the msgspec Structs of schemas.py — no schema is written twice. Built on the
first request and served as the same bytes after."""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from threadr import __version__

from .endpoints import ENDPOINTS, JSON, Endpoint
from .schemas import ErrorBody

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{name}"
INFO = {
    "title": "Threadr API",
    "version": __version__,
    "description": (
        "Turns an article (a URL) or pasted text into a ready-to-post X thread. Every error is "
        '`{"detail": "<one sentence>", "code": "<stable_code>"}`; each response lists the codes '
        "it can carry. Every response carries `X-Request-ID`. An unknown path answers 404 "
        "`not_found`, another method 405 `method_not_allowed`."
    ),
}
TAGS = [
    {"name": "threads", "description": "Making threads, and a signed-in user's saved ones."},
    {"name": "limits", "description": "Rate limits and the free tier, as the caller sees them."},
    {"name": "accounts", "description": "Accounts and server-side sessions."},
    {"name": "premium", "description": "Premium, for the caller."},
    {"name": "payments", "description": "Stripe Checkout and Stripe's webhook."},
    {"name": "subscribers", "description": "Email capture."},
    {"name": "admin", "description": "For operators: needs an `X-API-Key` of API_KEYS."},
    {"name": "operations", "description": "Probes for load balancers and orchestrators."},
]
SECURITY_SCHEMES = {
    "session": {
        "type": "http",
        "scheme": "bearer",
        "description": "The `access_token` of POST /api/auth/register or /api/auth/login.",
    },
    "adminKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of API_KEYS (admin endpoints are closed while it is empty).",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "METRICS_TOKEN, when it is set (GET /metrics is open without it).",
    },
}
# An empty requirement makes a scheme optional: an anonymous caller counts by its address; the
# metrics need their token only when one is configured.
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "token": [{}, {"session": []}],
    "session": [{"session": []}],
    "admin": [{"adminKey": []}],
    "metrics": [{}, {"metricsToken": []}],
}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The client's own X-Request-ID when it is 1–128 of `A-Z a-z 0-9 . _ : -`, "
        "else a new one.",
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'The policy closest to exhaustion: `"hourly";r=42;t=1800` (remaining '
        "requests, seconds until one more is allowed); draft-ietf-httpapi-ratelimit-headers.",
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": 'The caller\'s policies: `"burst";q=10;w=60, "hourly";q=50;w=3600`.',
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "X-Cache": {
        "description": "`HIT`: served from the cache (free); `MISS`: generated now.",
        "schema": {"type": "string", "enum": ["HIT", "MISS"]},
    },
}
_NO_BODY_STATUSES = {204}
_OPERATION_ID = re.compile(r"[^a-z0-9]+")


# Each header once in components; a `.429` variant where a 429 always sends it (a reference
# cannot say `required` itself).
_DENIED = ("RateLimit", "RateLimit-Policy", "Retry-After")
_ALWAYS = ("X-Request-ID", "X-Cache")
COMPONENT_HEADERS = {
    **{name: {**spec, "required": name in _ALWAYS} for name, spec in HEADERS.items()},
    **{f"{name}.429": {**HEADERS[name], "required": True} for name in _DENIED},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _success_headers(endpoint: Endpoint) -> dict[str, Any]:
    headers = {"X-Request-ID": _ref("X-Request-ID")}
    if endpoint.limited:
        # Absent when RATE_LIMIT_ENABLED=false: nothing was counted.
        headers |= {name: _ref(name) for name in ("RateLimit", "RateLimit-Policy")}
    headers |= {name: _ref(name) for name in endpoint.headers}
    return headers


def _error_headers(endpoint: Endpoint, status: int) -> dict[str, Any]:
    headers = {"X-Request-ID": _ref("X-Request-ID")}
    if status == 429:
        headers |= {name: _ref(f"{name}.429") for name in _DENIED}
    elif endpoint.limited:
        # Errors found after the limiter counted the request carry its headers too.
        headers |= {name: _ref(name) for name in ("RateLimit", "RateLimit-Policy")}
    if status == 503:
        # When waiting helps: an unreachable Redis, busy article readers or password checks.
        headers["Retry-After"] = _ref("Retry-After")
    return headers


def _error_response(endpoint: Endpoint, status: int, codes: tuple[str, ...]) -> dict[str, Any]:
    schema = {
        "allOf": [{"$ref": REF.format(name=ErrorBody.__name__)}],
        "properties": {"code": {"enum": list(codes)}},
    }
    return {
        "description": "`code`: " + ", ".join(f"`{code}`" for code in codes),
        "headers": _error_headers(endpoint, status),
        "content": {"application/json": {"schema": schema}},
    }


def _success_response(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": endpoint.summary,
        "headers": _success_headers(endpoint),
    }
    if endpoint.status not in _NO_BODY_STATUSES:
        response["content"] = {
            media: {"schema": _schema(endpoint, media, refs)} for media in endpoint.media
        }
    return response


def _schema(endpoint: Endpoint, media: str, refs: dict[Any, Any]) -> dict[str, Any]:
    """A success body's schema: the Struct's for JSON, one event's for an event stream (its
    name and its `data`, JSON of the event's Struct), else a string."""
    if media == JSON:
        return refs[endpoint.body]  # type: ignore[no-any-return]
    if not endpoint.events:
        return {"type": "string"}
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "event": {"const": name},
                    "data": {
                        "type": "string",
                        "contentMediaType": JSON,
                        "contentSchema": refs[struct],
                    },
                },
                "required": ["event", "data"],
            }
            for name, struct in endpoint.events
        ]
    }


def _operation(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    name = _OPERATION_ID.sub("_", f"{endpoint.method} {endpoint.path}".lower()).strip("_")
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id or name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": SECURITY[endpoint.access],
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.params:
        operation["parameters"] = [
            {
                "name": param.name,
                "in": param.where,
                "required": param.required or param.where == "path",
                "description": param.description,
                "schema": msgspec.json.schema(param.schema),
            }
            for param in endpoint.params
        ]
    if endpoint.request is not None:
        media = {"schema": refs[endpoint.request]}
        if endpoint.example is not None:
            media["example"] = endpoint.example
        operation["requestBody"] = {
            "required": endpoint.request_required,
            "content": {"application/json": media},
        }
    responses = {str(endpoint.status): _success_response(endpoint, refs)}
    for status, codes in endpoint.errors.items():
        responses[str(status)] = _error_response(endpoint, status, codes)
    operation["responses"] = responses
    return operation


def document(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> dict[str, Any]:
    """The OpenAPI document of `endpoints`, its schemas generated from their Structs."""
    bodies = [e.body for e in endpoints if e.body is not None]
    bodies += [e.request for e in endpoints if e.request is not None]
    bodies += [struct for e in endpoints for _, struct in e.events]
    types = list(dict.fromkeys([*bodies, ErrorBody]))
    refs_list, schemas = msgspec.json.schema_components(types, ref_template=REF)
    refs = dict(zip(types, refs_list, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": INFO,
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": COMPONENT_HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


@functools.cache
def document_bytes() -> bytes:
    """The document as served: encoded once."""
    return msgspec.json.encode(document())


async def openapi_json(_: Request) -> Response:
    """GET /openapi.json."""
    return Response(document_bytes(), media_type="application/json")
