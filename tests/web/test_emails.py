"""Email capture over HTTP on fakeredis: one answer for new and known addresses, clear 4xx for
bad input, 503 (never a pretend success) without Redis, and the admin gate on /api/emails/*."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import fakeredis
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import BrokenRedis, CountingRedis, make_settings, running_app, running_services
from threadr.errors import ThreadrError
from threadr.storage.keys import RATE_LIMIT_PREFIX, SUBSCRIBER_RECORDS
from threadr.web.emails import parse_subscription

KEY = "k" * 24
ADMIN = {"X-API-Key": KEY}
ADMIN_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/emails/stats", None),
    ("GET", "/api/emails/export", None),
    ("DELETE", "/api/emails", {"email": "ann@example.com"}),
]


def fake() -> CountingRedis:
    return CountingRedis(server=fakeredis.FakeServer())


async def admin_call(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else None
    headers = headers | ({"content-type": "application/json"} if body is not None else {})
    return await client.request(method, path, content=content, headers=headers)


async def test_new_and_known_addresses_get_the_same_answer() -> None:
    redis = fake()
    async with running_app(make_settings(), redis=redis) as client:
        first = await client.post("/api/subscribe", json={"email": "Ann@Example.com"})
        again = await client.post("/api/subscribe", json={"email": "  ann@EXAMPLE.COM "})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert first.json() == {"success": True, "message": "Thanks! This address is on the list."}
    assert "ratelimit" in first.headers
    assert await redis.hkeys(SUBSCRIBER_RECORDS) == [b"ann@example.com"]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"content": b"not json"}, 400, "invalid_json"),
        ({"content": b'["ann@example.com"]'}, 400, "not_an_object"),
        ({"json": {}}, 422, "validation_error"),
        ({"json": {"email": 42}}, 422, "validation_error"),
        ({"json": {"email": "ann@example.com", "admin": True}}, 422, "validation_error"),
        ({"json": {"email": "not an address"}}, 422, "invalid_email"),
        ({"json": {"email": "ann@example.com", "source": "<b>"}}, 422, "invalid_source"),
        (
            {"content": b'{"email": "a@b.co"}', "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ({"content": b'{"email": "' + b"a" * 70_000 + b'"}'}, 413, "payload_too_large"),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    request_kwargs: dict[str, Any], status: int, code: str
) -> None:
    request_kwargs.setdefault("headers", {"content-type": "application/json"})
    redis = fake()
    async with running_app(make_settings(), redis=redis) as client:
        response = await client.post("/api/subscribe", **request_kwargs)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"].endswith(".")
    assert await redis.hlen(SUBSCRIBER_RECORDS) == 0


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
_bodies = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["email", "source", "other"]), _json).map(
        lambda d: json.dumps(d).encode()
    ),
    st.fixed_dictionaries(
        {"email": st.text(max_size=80)}, optional={"source": st.none() | st.text(max_size=40)}
    ).map(lambda d: json.dumps(d).encode()),
)


@given(_bodies)
def test_any_body_is_a_subscription_or_a_4xx(body: bytes) -> None:
    try:
        email, source = parse_subscription(body)
    except ThreadrError as exc:
        refused: ThreadrError | None = exc
    else:
        refused = None
    if refused is not None:
        assert 400 <= refused.status < 500
        assert refused.detail and refused.code
        return
    assert email == email.strip().lower() and "@" in email
    assert source == source.lower()


async def test_subscriptions_are_rate_limited_per_client_under_their_own_name() -> None:
    redis = fake()
    settings = make_settings(RATE_LIMIT_BURST="2")
    async with running_app(settings, redis=redis) as client:
        answers = [
            await client.post("/api/subscribe", json={"email": f"u{i}@example.com"})
            for i in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "rate_limited"
    assert int(answers[2].headers["retry-after"]) > 0
    assert await redis.hlen(SUBSCRIBER_RECORDS) == 2
    # Counted apart from generations: the client's generate budget is untouched.
    keys = [k if isinstance(k, str) else k.decode() for k in await redis.keys("threadr:rl:*")]
    tags = {k.split("}")[0] for k in keys}
    assert tags == {f"{RATE_LIMIT_PREFIX}{{subscribe:127.0.0.1"}


async def test_with_redis_down_subscribing_is_a_503_with_retry_after() -> None:
    async with running_app(make_settings(), redis=BrokenRedis()) as client:
        for _ in range(4):  # the watch found Redis down at start-up: the breaker is open
            response = await client.post("/api/subscribe", json={"email": "ann@example.com"})
            assert response.status_code == 503
            assert response.json()["code"] == "storage_unavailable"
            assert response.headers["retry-after"] == "1"


async def test_without_redis_configured_subscribing_says_why_it_cannot() -> None:
    async with running_app(make_settings()) as client:
        response = await client.post("/api/subscribe", json={"email": "ann@example.com"})
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Email subscriptions need a database, and this server has none configured "
        "(REDIS_URL is not set).",
        "code": "storage_not_configured",
    }
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_admin_endpoints_are_closed_without_api_keys(
    method: str, path: str, body: Any
) -> None:
    async with running_app(make_settings(), redis=fake()) as client:
        response = await admin_call(client, method, path, body, ADMIN)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Admin endpoints are closed on this server (API_KEYS is not set).",
        "code": "admin_closed",
    }


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_admin_endpoints_want_the_right_key(method: str, path: str, body: Any) -> None:
    settings = make_settings(API_KEYS=f"{'o' * 20},{KEY}")
    async with running_app(settings, redis=fake()) as client:
        missing = await admin_call(client, method, path, body, {})
        wrong = await admin_call(client, method, path, body, {"X-API-Key": KEY + "x"})
        right = await admin_call(client, method, path, body, ADMIN)
    assert (missing.status_code, missing.json()) == (
        401,
        {"detail": "Send an admin key in the X-API-Key header.", "code": "unauthorized"},
    )
    assert (wrong.status_code, wrong.json()) == (
        401,
        {
            "detail": "The X-API-Key header does not hold a valid admin key.",
            "code": "unauthorized",
        },
    )
    assert right.status_code == 200


async def test_an_admin_key_is_rate_limited() -> None:
    settings = make_settings(API_KEYS=KEY, RATE_LIMIT_BURST="3")
    async with running_app(settings, redis=fake()) as client:
        answers = [await client.get("/api/emails/stats", headers=ADMIN) for _ in range(4)]
        other = await client.get("/api/emails/stats", headers={"X-API-Key": "z" * 20})
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["code"] == "rate_limited"
    assert "retry-after" in answers[3].headers
    assert other.status_code == 401  # a wrong key is refused, not counted as the right one's


async def test_stats_removal_and_export_follow_the_list() -> None:
    redis = fake()
    settings = make_settings(API_KEYS=KEY, RATE_LIMIT_ENABLED="false")
    async with running_app(settings, redis=redis) as client:
        for email, source in [
            ("ann@example.com", "footer"),
            ("bob@Bücher.de", "footer"),
            ("=cmd@example.com", None),
        ]:
            body = {"email": email} | ({"source": source} if source else {})
            assert (await client.post("/api/subscribe", json=body)).status_code == 200
        stats = await client.get("/api/emails/stats", headers=ADMIN)
        assert stats.json() == {
            "total_subscriptions": 3,
            "last_7_days": 3,
            "by_source": {"footer": 2, "website": 1},
        }
        removed = await admin_call(
            client, "DELETE", "/api/emails", {"email": " BOB@bücher.DE"}, ADMIN
        )
        assert removed.json() == {"success": True, "removed": True}
        again = await admin_call(client, "DELETE", "/api/emails", {"email": "bob@bücher.de"}, ADMIN)
        assert again.json() == {"success": True, "removed": False}
        bad = await admin_call(client, "DELETE", "/api/emails", {"email": "bob"}, ADMIN)
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_email")
        stats = await client.get("/api/emails/stats", headers=ADMIN)
        export = await client.get("/api/emails/export", headers=ADMIN)
    assert stats.json()["by_source"] == {"footer": 1, "website": 1}
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert export.headers["content-disposition"] == 'attachment; filename="subscribers.csv"'
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["email", "subscribed_at", "source"]
    # A cell a spreadsheet would run as a formula is quoted (OWASP CSV injection).
    assert [(r[0], r[2]) for r in rows[1:]] == [
        ("ann@example.com", "footer"),
        ("'=cmd@example.com", "website"),
    ]


async def test_the_export_reads_redis_a_page_at_a_time() -> None:
    redis = fake()
    settings = make_settings(API_KEYS=KEY)
    async with running_services(settings, redis=redis) as (client, services):
        assert services.subscribers is not None
        for i in range(1_001):
            await services.subscribers.add(f"user{i:04}@example.com", "bulk")
        redis.commands.clear()
        export = await client.get("/api/emails/export", headers=ADMIN)
    assert len(export.text.splitlines()) == 1 + 1_001
    # Three pages of at most 500 (and the admin gate's limiter call); never SCAN or KEYS.
    assert redis.commands.count("EVALSHA") == 1 + 3


async def test_an_export_with_redis_down_is_a_503_not_an_empty_file() -> None:
    async with running_app(make_settings(API_KEYS=KEY), redis=BrokenRedis()) as client:
        response = await client.get("/api/emails/export", headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"


async def test_no_handler_sends_scan_or_keys() -> None:
    redis = fake()
    settings = make_settings(API_KEYS=KEY)
    async with running_app(settings, redis=redis) as client:
        await client.post("/api/subscribe", json={"email": "ann@example.com", "source": "x"})
        await client.get("/api/emails/stats", headers=ADMIN)
        await client.get("/api/emails/export", headers=ADMIN)
        await admin_call(client, "DELETE", "/api/emails", {"email": "ann@example.com"}, ADMIN)
    sent = {c.upper() for c in redis.commands}
    assert sent, "the handlers sent nothing to Redis"
    assert not sent & {"SCAN", "KEYS", "HSCAN", "ZSCAN", "SSCAN"}
