"""GET /api/usage/analytics on fakeredis: admin only, `days` checked in words, the series as
JSON and CSV, errors and subscriptions counted where they are answered, 503 without Redis (the
two-instance sums on a real Redis are in integration/test_analytics.py)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import fakeredis
import pytest

from tests.factories import make_settings, running_app, running_services
from threadr.analytics.counts import day_of

KEY = "analytics-key-0123456789"
ADMIN = {"X-API-Key": KEY}
TEXT = "Analytics count what happened, per day, so an operator can see the service in use. " * 3


def fake() -> Any:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())


async def test_admin_only() -> None:
    redis = fake()
    async with running_app(make_settings(API_KEYS=KEY), redis=redis) as client:
        assert (await client.get("/api/usage/analytics")).status_code == 401
        wrong = await client.get("/api/usage/analytics", headers={"X-API-Key": "y" * len(KEY)})
        assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthorized")
    async with running_app(make_settings(), redis=redis) as closed:
        response = await closed.get("/api/usage/analytics", headers=ADMIN)
        assert (response.status_code, response.json()["code"]) == (401, "admin_closed")
    await redis.aclose()


@pytest.mark.parametrize("days", ["0", "-1", "91", "x", "1.5", "", "٣"])
async def test_bad_days_are_refused_in_words(days: str) -> None:
    redis = fake()
    async with running_app(make_settings(API_KEYS=KEY), redis=redis) as client:
        response = await client.get(f"/api/usage/analytics?days={days}", headers=ADMIN)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_days")
    assert "1 to 90" in response.json()["detail"]
    await redis.aclose()


async def test_bad_format_is_refused() -> None:
    redis = fake()
    async with running_app(make_settings(API_KEYS=KEY), redis=redis) as client:
        response = await client.get("/api/usage/analytics?format=xml", headers=ADMIN)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_format")
    await redis.aclose()


async def test_the_series_counts_what_was_answered() -> None:
    redis = fake()
    settings = make_settings(API_KEYS=KEY, ANALYTICS_RETENTION_DAYS="30")
    async with running_services(settings, redis=redis) as (client, running):
        assert (await client.post("/api/generate", json={"text": TEXT})).status_code == 200
        assert (await client.post("/api/generate", json={"text": TEXT})).status_code == 200
        assert (await client.post("/api/generate", json={"text": ""})).status_code == 422
        for _ in range(2):  # one new address, then a known one
            sent = await client.post("/api/subscribe", json={"email": "Ann@Example.org"})
            assert sent.status_code == 200
        assert (await client.get("/api/usage/analytics")).status_code == 401
        assert await running.counters.flush()
        response = await client.get("/api/usage/analytics?days=30", headers=ADMIN)
        assert response.status_code == 200
        days = response.json()["days"]
        assert len(days) == 30
        today = dict(days[-1])
        errors = today.pop("errors")
        assert today.pop("date") == day_of(time.time())
        assert today == {
            "generations": {"url": 0, "text": 1, "openai": 0, "offline": 1},
            "cache_hits": 1,
            "cache_misses": 1,
            "offline_fallbacks": 0,  # no OpenAI configured: offline is the writer, not a fallback
            "rate_limited": 0,
            "quota_exceeded": 0,
            "registrations": 0,
            "premium_grants": 0,
            "subscriptions": 1,
            "unique_users": 1,
        }
        assert errors == {"unauthorized": 1, "empty_text": 1}
        assert all(d["cache_hits"] == 0 for d in days[:-1])

        exported = await client.get("/api/usage/analytics?days=2&format=csv", headers=ADMIN)
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [row["date"] for row in rows] == [d["date"] for d in days[-2:]]
        assert rows[-1]["cache_hits"] == "1"
        assert rows[-1]["generations_text"] == "1"
        assert rows[-1]["errors_unauthorized"] == "1"
        assert rows[0]["errors_unauthorized"] == "0"
    await redis.aclose()


async def test_default_is_seven_days() -> None:
    redis = fake()
    async with running_app(make_settings(API_KEYS=KEY), redis=redis) as client:
        response = await client.get("/api/usage/analytics", headers=ADMIN)
    assert len(response.json()["days"]) == 7
    await redis.aclose()


async def test_without_redis_it_is_503_in_words() -> None:
    async with running_app(make_settings(API_KEYS=KEY)) as client:
        response = await client.get("/api/usage/analytics", headers=ADMIN)
    assert (response.status_code, response.json()["code"]) == (503, "storage_not_configured")
