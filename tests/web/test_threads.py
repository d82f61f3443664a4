"""Saved threads over HTTP on fakeredis: a signed-in generation (hit or miss) lands in its
account's history and nowhere else, the endpoints need a session, a bad `limit` or `cursor` is
a 422 that says why, another account's id is a 404, and a history Redis cannot reach is a 503
on the endpoints but never an error on POST /api/generate, whose answer went out first."""

from __future__ import annotations

import logging
from typing import Any

import fakeredis
import httpx
import pytest
from fakeredis import FakeAsyncRedis as FakeRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.factories import account_settings, bearer, running_app, sign_up
from threadr.storage.keys import HISTORY_PREFIX, SESSION_PREFIX

TEXT = (
    "Caching is the art of remembering answers. When a service does expensive work, the result "
    "can be kept and served again in microseconds instead of seconds. A good cache has a key that "
    "ignores differences that do not matter, and it expires entries so stale answers go away."
)
OTHER = TEXT.replace("Caching", "Memoisation")


def fake() -> FakeRedis:
    return FakeRedis(server=fakeredis.FakeServer())


async def generate(client: httpx.AsyncClient, token: str | None, text: str) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    response = await client.post("/api/generate", json={"text": text}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_signed_in_generations_are_saved_newest_first_hits_included() -> None:
    redis = fake()
    async with running_app(account_settings(), redis=redis) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        first = await generate(client, token, TEXT)
        second = await generate(client, token, OTHER)
        again = await generate(client, token, TEXT)  # a cache hit: saved again, not twice
        assert (first["cached"], second["cached"], again["cached"]) == (False, False, True)
        listed = await client.get("/api/threads", headers=bearer(token))
        assert listed.status_code == 200
        assert listed.headers["cache-control"] == "no-store"
        body = listed.json()
        assert body["next_cursor"] is None
        threads = body["threads"]
        # The same input again moved its one entry to the top instead of adding a copy.
        assert [t["preview"] for t in threads] == [
            again["thread"][0]["content"],
            second["thread"][0]["content"],
        ]
        assert threads[0]["preview"].startswith("1/") and "Caching" in threads[0]["preview"]
        assert "Memoisation" in threads[1]["preview"]
        summary = threads[1]
        assert summary["tweet_count"] == len(second["thread"])
        assert (summary["source_type"], summary["url"], summary["title"]) == ("text", None, None)
        assert summary["generator"] == "offline"
        assert summary["saved_at"].endswith("Z")
        detail = await client.get(f"/api/threads/{summary['id']}", headers=bearer(token))
        assert detail.status_code == 200
        assert detail.json() == {
            "id": summary["id"],
            "saved_at": summary["saved_at"],
            "source_type": "text",
            "url": None,
            "title": None,
            "generator": "offline",
            "thread": second["thread"],  # the tweets exactly as the generation sent them
        }


async def test_anonymous_generations_are_not_saved() -> None:
    redis = fake()
    async with running_app(account_settings(), redis=redis) as client:
        await generate(client, None, TEXT)
    assert await redis.keys(HISTORY_PREFIX + "*") == []


async def test_the_allowance_applies_over_http() -> None:
    async with running_app(account_settings(HISTORY_FREE_THREADS="2"), redis=fake()) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        for i in range(3):
            await generate(client, token, f"{TEXT} Number {i}.")
        threads = (await client.get("/api/threads", headers=bearer(token))).json()["threads"]
    assert len(threads) == 2


async def test_pages_follow_the_cursor_to_the_end() -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        for i in range(5):
            await generate(client, token, f"{TEXT} Number {i}.")
        seen, cursor, sizes = [], None, []
        while True:
            params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/api/threads", params=params, headers=bearer(token))).json()
            sizes.append(len(page["threads"]))
            seen += [t["id"] for t in page["threads"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert sizes == [2, 2, 1]
    assert len(set(seen)) == 5


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/threads"),
        ("GET", "/api/threads/0123456789abcdef"),
        ("DELETE", "/api/threads/0123456789abcdef"),
    ],
)
async def test_the_endpoints_need_a_session(method: str, path: str) -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        response = await client.request(method, path)
        forged = await client.request(method, path, headers=bearer("thr_" + "0" * 24 + "_x"))
    assert (response.status_code, response.json()["code"]) == (401, "not_signed_in")
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_token")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=-1", "invalid_limit"),
        ("limit=2.5", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("limit=", "invalid_limit"),
        ("limit=%EF%BC%91", "invalid_limit"),  # a fullwidth 1: a digit to str.isdigit only
        ("cursor=nonsense", "invalid_cursor"),
        ("cursor=", "invalid_cursor"),
    ],
)
async def test_a_bad_limit_or_cursor_is_a_422_that_says_why(query: str, code: str) -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        response = await client.get(f"/api/threads?{query}", headers=bearer(token))
    assert (response.status_code, response.json()["code"]) == (422, code)
    detail = response.json()["detail"]
    assert ("1 to 100" in detail) if code == "invalid_limit" else ("cursor" in detail)


async def test_limits_at_the_edges_are_accepted() -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        await generate(client, token, TEXT)
        for limit in ("1", "100"):
            response = await client.get(f"/api/threads?limit={limit}", headers=bearer(token))
            assert response.status_code == 200
            assert len(response.json()["threads"]) == 1


async def test_another_accounts_thread_is_a_404_and_survives_their_delete() -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        ann = (await sign_up(client, "ann@example.com"))["access_token"]
        bob = (await sign_up(client, "bob@example.com"))["access_token"]
        await generate(client, ann, TEXT)
        (thread,) = (await client.get("/api/threads", headers=bearer(ann))).json()["threads"]
        path = f"/api/threads/{thread['id']}"
        for method in ("GET", "DELETE"):
            response = await client.request(method, path, headers=bearer(bob))
            assert (response.status_code, response.json()["code"]) == (404, "thread_not_found")
        assert (await client.get("/api/threads", headers=bearer(bob))).json()["threads"] == []
        assert (await client.get(path, headers=bearer(ann))).status_code == 200
        deleted = await client.delete(path, headers=bearer(ann))
        assert (deleted.status_code, deleted.content) == (204, b"")
        for method in ("GET", "DELETE"):
            response = await client.request(method, path, headers=bearer(ann))
            assert (response.status_code, response.json()["code"]) == (404, "thread_not_found")
        assert (await client.get("/api/threads", headers=bearer(ann))).json()["threads"] == []


@pytest.mark.parametrize("thread_id", ["nope", "0123456789ABCDEF", "0" * 40])
async def test_a_malformed_id_is_the_same_404(thread_id: str) -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        for method in ("GET", "DELETE"):
            response = await client.request(
                method, f"/api/threads/{thread_id}", headers=bearer(token)
            )
            assert (response.status_code, response.json()["code"]) == (404, "thread_not_found")


class HistoryDown(FakeRedis):
    """fakeredis whose saved threads are unreachable (any pooled command naming one of their
    keys fails as a dropped connection); accounts and the cache keep working (the session
    lookup, which reads the newest saved thread along, as if that index were empty)."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        named = [str(a) for a in args if isinstance(a, bytes | str)]
        if any(HISTORY_PREFIX in a for a in named) and not any(SESSION_PREFIX in a for a in named):
            raise RedisConnectionError("connection lost")
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


async def test_a_save_that_fails_is_logged_and_the_generation_still_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = HistoryDown(server=fakeredis.FakeServer())
    # One connection: no lane (storage/client.py split_connections), so every command is one
    # HistoryDown sees, the history save (which takes the lane when there is one) included.
    async with running_app(account_settings(REDIS_MAX_CONNECTIONS="1"), redis=redis) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        with caplog.at_level(logging.WARNING, logger="threadr.web.generate"):
            body = await generate(client, token, TEXT)
        assert body["success"] is True and body["thread"]
        warnings = [r for r in caplog.records if r.name == "threadr.web.generate"]
        assert [r.getMessage() for r in warnings] == [
            "A generated thread was not saved to its account's history"
        ]
        listed = await client.get("/api/threads", headers=bearer(token))
    assert (listed.status_code, listed.json()["code"]) == (503, "storage_unavailable")
    assert int(listed.headers["retry-after"]) >= 1
