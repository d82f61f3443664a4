"""Saved threads on a real Redis: a signed-in user's generations appear in their history, newest
first, with their records under their account's hash tag; another user can neither read nor
delete them (404, as for an id that never was); the allowance trims index and records in one
script, concurrent saves included."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from tests.factories import (
    TEST_REDIS_URL,
    account_settings,
    bearer,
    running_app,
    running_services,
    sign_up,
)
from threadr.cache import CacheEntry
from threadr.config import Settings
from threadr.storage.keys import HISTORY_PREFIX, history_index_key, history_record_key, user_tag
from threadr.writing.thread import Tweet

pytestmark = pytest.mark.integration

TEXTS = [
    "Caching is the art of remembering answers. When a service does expensive work, the result "
    "can be kept and served again in microseconds instead of seconds, until it expires.",
    "Rate limits protect a service from its most eager clients. A token bucket refills at a "
    "steady pace, and a request that finds it empty is told when to come back.",
]


def settings(**env: str) -> Settings:
    return account_settings(REDIS_URL=TEST_REDIS_URL, **env)


async def generate(client: httpx.AsyncClient, token: str, text: str) -> dict[str, Any]:
    response = await client.post("/api/generate", json={"text": text}, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_users_threads_are_theirs_alone(redis: Redis) -> None:
    async with running_app(settings()) as client:
        ann = await sign_up(client, "ann@example.com")
        bob = await sign_up(client, "bob@example.com")
        a, b = ann["access_token"], bob["access_token"]
        made = [await generate(client, a, text) for text in TEXTS]

        listed = await client.get("/api/threads", headers=bearer(a))
        assert listed.status_code == 200
        threads = listed.json()["threads"]
        assert [t["preview"] for t in threads] == [m["thread"][0]["content"] for m in made[::-1]]
        assert listed.json()["next_cursor"] is None
        ids = [t["id"] for t in threads]
        for thread_id, generated in zip(ids, made[::-1], strict=True):
            detail = await client.get(f"/api/threads/{thread_id}", headers=bearer(a))
            assert detail.status_code == 200
            assert detail.json()["thread"] == generated["thread"]

        # Bob: nothing of his own, and Ann's ids are not found — read or delete.
        assert (await client.get("/api/threads", headers=bearer(b))).json()["threads"] == []
        for thread_id in ids:
            for method in ("GET", "DELETE"):
                answer = await client.request(
                    method, f"/api/threads/{thread_id}", headers=bearer(b)
                )
                assert (answer.status_code, answer.json()["code"]) == (404, "thread_not_found")

        # Bob's DELETE removed nothing; Ann's own does, once.
        assert await redis.zcard(history_index_key(ann["user"]["user_id"])) == 2
        gone = f"/api/threads/{ids[0]}"
        assert (await client.delete(gone, headers=bearer(a))).status_code == 204
        assert (await client.get(gone, headers=bearer(a))).status_code == 404
        assert (await client.delete(gone, headers=bearer(a))).status_code == 404
        left = (await client.get("/api/threads", headers=bearer(a))).json()["threads"]
        assert [t["id"] for t in left] == [ids[1]]

    # What Redis holds: Ann's index and her one record, all under her account's hash tag.
    user_id = ann["user"]["user_id"]
    keys = set(await redis.keys(HISTORY_PREFIX + "*"))
    assert keys == {
        history_index_key(user_id).encode(),
        history_record_key(user_id, ids[1]).encode(),
    }
    assert all(user_tag(user_id).encode() in key for key in keys)
    assert await redis.ttl(history_record_key(user_id, ids[1])) == -1  # no TTL of its own


async def test_concurrent_saves_keep_exactly_the_allowance(redis: Redis) -> None:
    async with running_services(settings(HISTORY_FREE_THREADS="3")) as (client, services):
        ann = await sign_up(client, "ann@example.com")
        user_id = ann["user"]["user_id"]
        store = services.history
        assert store is not None
        entry = CacheEntry.new([Tweet(1, 1, "1/1 A thread.", 13)], "text", None, "offline", 0.0)
        # 20 saves at once (what 20 concurrent generations call once answered): each script
        # saves and trims atomically, so the allowance holds exactly, records included.
        saved = await asyncio.gather(
            *(store.save(user_id, entry, key=f"k{i}", url=None, premium=False) for i in range(20))
        )
    assert len(set(saved)) == 20
    index = cast("list[bytes]", await redis.zrange(history_index_key(user_id), 0, -1))
    assert len(index) == 3
    records = {k for k in await redis.keys(HISTORY_PREFIX + "*") if b":t:" in k}
    assert records == {history_record_key(user_id, i.decode()).encode() for i in index}
