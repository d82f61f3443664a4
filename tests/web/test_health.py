"""GET /health, GET / and GET /readiness without Redis (with Redis down: test_generate.py;
with a real one: integration/)."""

from tests.factories import make_settings, running_app


async def test_health_without_redis() -> None:
    async with running_app(make_settings()) as client:
        for path in ("/health", "/"):
            body = (await client.get(path)).json()
            assert body["status"] == "healthy"
            assert body["services"] == {"redis": "not_configured", "openai": "not_configured"}
            assert body["version"]
        ready = await client.get("/readiness")
    assert ready.status_code == 200


async def test_health_answers_head_and_refuses_other_methods() -> None:
    async with running_app(make_settings()) as client:
        head = await client.head("/health")
        post = await client.post("/health")
        deeper = await client.get("/health/x")
    assert head.status_code == 200 and head.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) > 0 and head.headers["x-frame-options"] == "DENY"
    assert post.status_code == 405 and post.json()["code"] == "method_not_allowed"
    assert deeper.status_code == 404
