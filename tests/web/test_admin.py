"""The admin gate: wrong keys are limited per client, and no key material reaches Redis."""

from __future__ import annotations

import fakeredis

from tests.factories import make_settings, running_app

KEY = "admin-key-0123456789abcdef"


async def test_guessing_keys_is_rate_limited_per_client() -> None:
    settings = make_settings(API_KEYS=KEY, RATE_LIMIT_BURST="3")
    async with running_app(settings) as client:
        answers = [
            (await client.get("/api/emails/stats", headers={"X-API-Key": f"guess-{n:020d}"}))
            for n in range(5)
        ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert "Retry-After" in answers[-1].headers


async def test_no_key_material_in_redis_key_names() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    settings = make_settings(API_KEYS=f"other-key-0123456789,{KEY}", REDIS_URL="redis://fake")
    async with running_app(settings, redis=redis) as client:
        response = await client.get("/api/cache/stats", headers={"X-API-Key": KEY})
    assert response.status_code == 200
    names = [k.decode() if isinstance(k, bytes) else k for k in await redis.keys("*")]
    assert any("admin:1" in name for name in names), names  # the key's place in API_KEYS
    assert not any(KEY in name or "admin:" + KEY[:8] in name for name in names)
    await redis.aclose()
