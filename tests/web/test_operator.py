"""Operator endpoints on fakeredis: closed without an admin key, open with one, bad DELETE input
refused in words, and `available: false` when Redis is down (the shared counts over two
instances on a real Redis are in integration/test_operator.py)."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest

from tests.factories import make_settings, running_app, running_services
from tests.integration.processes import free_port

KEY = "operator-key-0123456789"
ARTICLE = (
    "Caching is the art of remembering answers. When a service does expensive work, the result "
    "can be kept and served again in microseconds instead of seconds. " * 3
)
ENDPOINTS = [
    ("GET", "/api/cache/stats", None),
    ("GET", "/api/cache-stats", None),
    ("GET", "/api/analytics/redis-stats", None),
    ("DELETE", "/api/cache", {"text": ARTICLE}),
]


async def _call(client: Any, method: str, path: str, body: Any, key: str | None) -> Any:
    headers = {"X-API-Key": key} if key else {}
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_admin_only(method: str, path: str, body: Any) -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    async with running_app(make_settings(API_KEYS=KEY), redis=redis) as client:
        assert (await _call(client, method, path, body, None)).status_code == 401
        wrong = await _call(client, method, path, body, "x" * len(KEY))
        assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthorized")
        assert (await _call(client, method, path, body, KEY)).status_code == 200
    async with running_app(make_settings(), redis=redis) as closed:  # API_KEYS unset
        response = await _call(closed, method, path, body, KEY)
        assert (response.status_code, response.json()["code"]) == (401, "admin_closed")
    await redis.aclose()


async def test_delete_forgets_the_entry_so_the_next_generate_is_a_miss() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    async with running_app(make_settings(API_KEYS=KEY), redis=redis) as client:
        assert (await client.post("/api/generate", json={"text": ARTICLE})).headers[
            "x-cache"
        ] == "MISS"
        # The same input as generate normalises it: surrounding space names the same entry.
        gone = await _call(client, "DELETE", "/api/cache", {"text": f"  {ARTICLE}\n"}, KEY)
        assert gone.json() == {"success": True, "removed": True}
        again = await _call(client, "DELETE", "/api/cache", {"text": ARTICLE}, KEY)
        assert again.json() == {"success": True, "removed": False}
        after = await client.post("/api/generate", json={"text": ARTICLE})
        assert after.headers["x-cache"] == "MISS"
    await redis.aclose()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b"[1]", 400, "not_an_object"),
        (b'{"text": "a", "extra": 1}', 422, "validation_error"),
        (b"{}", 422, "url_or_text"),
        (b'{"url": "https://example.com/a", "text": "b"}', 422, "url_or_text"),
        (b'{"text": "   "}', 422, "empty_text"),
        (b'{"url": "not a url"}', 422, None),
        (b'{"url": "ftp://example.com/a"}', 403, None),
    ],
)
async def test_delete_refuses_bad_input_in_words(
    body: bytes, status: int, code: str | None
) -> None:
    async with running_app(make_settings(API_KEYS=KEY)) as client:
        response = await client.request(
            "DELETE",
            "/api/cache",
            content=body,
            headers={"X-API-Key": KEY, "content-type": "application/json"},
        )
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    if code:
        assert response.json()["code"] == code


async def test_memory_only_reports_this_process() -> None:
    async with running_services(make_settings(API_KEYS=KEY)) as (client, services):
        await client.post("/api/generate", json={"text": ARTICLE})
        await client.post("/api/generate", json={"text": ARTICLE})
        stats = (await _call(client, "GET", "/api/cache-stats", None, KEY)).json()
        redis = (await _call(client, "GET", "/api/analytics/redis-stats", None, KEY)).json()
        assert services.counters.pending == {}  # nothing to share with: not kept growing
    assert stats == {
        "available": False,
        "cache_entries": 1,
        "hits": 1,
        "misses": 1,
        "hit_rate": 0.5,
        "memory_used": None,
        "ttl_hours": 24.0,
    }
    assert redis["available"] is False
    assert redis.pop("warnings") == []
    assert set(redis.values()) == {False, None}


async def test_redis_down_is_available_false_not_an_error() -> None:
    down = f"redis://127.0.0.1:{free_port()}/13"  # nothing listens there
    settings = make_settings(API_KEYS=KEY, REDIS_URL=down, REDIS_TIMEOUT_SECONDS="0.5")
    async with running_app(settings) as client:
        stats = await _call(client, "GET", "/api/cache/stats", None, KEY)
        redis = await _call(client, "GET", "/api/analytics/redis-stats", None, KEY)
        deleted = await _call(client, "DELETE", "/api/cache", {"text": ARTICLE}, KEY)
    assert stats.status_code == 200 and stats.json()["available"] is False
    assert stats.json()["memory_used"] is None
    assert redis.status_code == 200 and redis.json()["available"] is False
    assert redis.json()["cache_entries"] is None and redis.json()["memory_used"] is None
    # Deleting cannot be done while Redis is away: said so, never a pretend success.
    assert deleted.status_code == 503
    assert deleted.json()["code"] == "service_unavailable" and "Retry-After" in deleted.headers
