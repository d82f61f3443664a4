"""The pure-ASGI layers: request ids and security headers on every response, CORS, the health
probes' shortcut and the generate endpoint's."""

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.factories import make_settings, running_app
from threadr.errors import ThreadrError, Unprocessable
from threadr.web.middleware.probes import Probes
from threadr.web.middleware.shortcut import Shortcut

ARTICLE = "Headers ride on every answer. A request id ties a log line to a response. " * 4


async def test_every_response_has_request_id_and_security_headers() -> None:
    async with running_app(make_settings()) as client:
        echoed = await client.get("/health", headers={"x-request-id": "abc-123"})
        hostile_id = "bad id\u00e9<script>".encode()
        hostile = await client.get("/nope", headers=[(b"x-request-id", hostile_id)])
    assert echoed.headers["x-request-id"] == "abc-123"
    assert hostile.headers["x-request-id"] != "bad id\u00e9<script>"
    assert len(hostile.headers["x-request-id"]) == 32
    for response in (echoed, hostile):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"]
        assert "strict-transport-security" not in response.headers


async def test_cors_preflight_and_exposed_headers() -> None:
    settings = make_settings(CORS_ORIGINS="https://app.example.com")
    origin = {"origin": "https://app.example.com"}
    async with running_app(settings) as client:
        preflight = await client.options(
            "/api/generate",
            headers={
                **origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,x-request-id",
            },
        )
        actual = await client.post("/api/generate", json={"text": ARTICLE}, headers=origin)
        foreign = await client.get("/health", headers={"origin": "https://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    exposed = actual.headers["access-control-expose-headers"].lower()
    for name in ("x-cache", "x-request-id", "ratelimit", "ratelimit-policy", "retry-after"):
        assert name in exposed
    assert "access-control-allow-origin" not in foreign.headers


async def test_cors_answers_as_before_it_moved_into_the_edge_layer() -> None:
    """What Starlette's CORSMiddleware answered (issue #16 folded CORS into EdgeHeaders)."""
    settings = make_settings(CORS_ORIGINS="https://app.example.com")
    allowed, foreign = "https://app.example.com", "https://evil.example"

    def preflight(origin: str, **asked: str) -> dict[str, str]:
        return {"origin": origin, "access-control-request-method": "POST", **asked}

    async with running_app(settings) as client:
        plain = await client.get("/health")
        from_allowed = await client.get("/health", headers={"origin": allowed})
        refusals = [
            await client.options("/api/generate", headers=preflight(foreign)),
            await client.options(
                "/api/generate",
                headers={**preflight(allowed), "access-control-request-method": "PUT"},
            ),
            await client.options(
                "/api/generate",
                headers=preflight(allowed, **{"access-control-request-headers": "x-secret"}),
            ),
            await client.options(
                "/api/generate",
                headers=preflight(allowed, **{"access-control-request-private-network": "true"}),
            ),
        ]
        accepted = await client.options(
            "/api/generate",
            headers={
                **preflight(
                    allowed, **{"access-control-request-headers": "Authorization, X-API-Key"}
                ),
                "x-request-id": "pre-1",
            },
        )
        not_preflight = await client.options("/api/generate", headers={"origin": allowed})
    assert plain.headers.get_list("vary") == ["Origin"]
    assert "access-control-allow-origin" not in plain.headers
    assert from_allowed.headers["access-control-allow-origin"] == allowed
    assert from_allowed.headers.get_list("vary") == ["Origin"]
    assert [(r.status_code, r.text) for r in refusals] == [
        (400, "Disallowed CORS origin"),
        (400, "Disallowed CORS method"),
        (400, "Disallowed CORS headers"),
        (400, "Disallowed CORS private-network"),
    ]
    assert "access-control-allow-origin" not in refusals[0].headers
    assert (accepted.status_code, accepted.text) == (200, "OK")
    assert accepted.headers["access-control-allow-origin"] == allowed
    assert accepted.headers["access-control-max-age"] == "600"
    assert accepted.headers["access-control-allow-methods"] == "GET, POST, DELETE, OPTIONS"
    assert "Authorization" in accepted.headers["access-control-allow-headers"]
    assert accepted.headers["vary"].startswith("Origin, Access-Control-Request-Method")
    # A preflight carries the request id and the security headers like any other answer.
    assert accepted.headers["x-request-id"] == "pre-1"
    assert accepted.headers["x-content-type-options"] == "nosniff"
    # OPTIONS that names no method is no preflight: the app answers it (a 405 here).
    assert not_preflight.status_code == 405


async def test_cors_for_any_origin() -> None:
    async with running_app(make_settings(CORS_ORIGINS="*")) as client:
        answer = await client.get("/health", headers={"origin": "https://anywhere.example"})
        preflight = await client.options(
            "/health",
            headers={"origin": "https://anywhere.example", "access-control-request-method": "GET"},
        )
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "x-cache" in answer.headers["access-control-expose-headers"].lower()
    assert (preflight.status_code, preflight.headers["access-control-allow-origin"]) == (200, "*")


async def test_without_cors_origins_no_cors_header_is_sent() -> None:
    async with running_app(make_settings()) as client:
        answer = await client.get("/health", headers={"origin": "https://app.example.com"})
    assert not [
        name for name in answer.headers if name.startswith("access-control") or name == "vary"
    ]


async def test_probes_answer_health_ahead_of_the_app() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def health(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    probes = Probes(app, health, ["/health"])
    transport = httpx.ASGITransport(app=probes)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health")).text == "ok"
        assert (await client.head("/health")).status_code == 200
        assert (await client.post("/health")).status_code == 204  # the router says 405
        assert (await client.get("/other")).status_code == 204
    assert seen == ["/health", "/other"]


async def test_the_shortcut_answers_its_route_with_the_apps_error_handlers() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(f"app {scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(f"endpoint {scope['route'].path}")
        body = (await receive())["body"]
        if body == b"refuse":
            raise Unprocessable("No.", code="refused")
        if body == b"break":
            raise KeyError("a bug")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"made"})
        if body == b"late":
            raise Unprocessable("Too late.", code="late")

    async def refused(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"handled {type(exc).__name__}", 422)

    async def server_error(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("server error", 500)

    route = Route("/make", endpoint, methods=["POST"])
    route.app = endpoint  # the plain-ASGI endpoint, as a class instance is taken
    shortcut = Shortcut(app, route, handlers={ThreadrError: refused}, server_error=server_error)
    transport = httpx.ASGITransport(app=shortcut, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        made = await client.post("/make", content=b"ok")
        refusal = await client.post("/make", content=b"refuse")
        broken = await client.post("/make", content=b"break")
        other = await client.get("/make")
    assert (made.status_code, made.text) == (200, "made")
    assert (refusal.status_code, refusal.text) == (422, "handled Unprocessable")
    assert (broken.status_code, broken.text) == (500, "server error")
    assert other.status_code == 204
    assert seen == ["endpoint /make", "endpoint /make", "endpoint /make", "app GET /make"]
    strict = httpx.ASGITransport(app=shortcut)
    async with httpx.AsyncClient(transport=strict, base_url="http://t") as client:
        with pytest.raises(KeyError):  # raised on after its 500, for the server to log
            await client.post("/make", content=b"break")
        with pytest.raises(RuntimeError, match="response already started"):
            await client.post("/make", content=b"late")
