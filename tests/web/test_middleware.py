"""The pure-ASGI layers: request ids and security headers on every response, CORS, and the
health probes' shortcut."""

import httpx
from starlette.types import Receive, Scope, Send

from tests.factories import make_settings, running_app
from threadr.web.middleware.probes import Probes

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
