"""Stripe on a real Redis: a signed `checkout.session.completed` makes the payer premium — the
next generate is past the free quota and under the premium `RateLimit-Policy` — once, however
often it is replayed; a tampered or stale event changes nothing; with Redis gone the webhook
answers 503 (Stripe retries) and the retry, once Redis is back, grants exactly once; a refund
and a cancellation take back their own grants only. And a checkout through STRIPE_API_BASE,
over real HTTP, to a Stripe stand-in on a local port."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.billing.stripe_fake import (
    DAY,
    SECRET,
    SESSION_URL,
    charge,
    checkout_completed,
    event,
    invoice,
    sign,
    subscription,
)
from tests.factories import (
    TEST_REDIS_URL,
    account_settings,
    bearer,
    redis_ms,
    running_app,
    sign_up,
    until,
)
from tests.integration.processes import RedisServer, free_port
from threadr.accounts.premium import DAY_MS, account_holder
from threadr.billing.journal import EVENT_TTL_SECONDS, event_key
from threadr.billing.links import LINK_TTL_SECONDS, link_key
from threadr.storage.keys import premium_key

pytestmark = pytest.mark.integration

PREMIUM_HOURLY = 777
WEBHOOK = "/api/webhooks/stripe"
TEXTS = [
    "Caching is the art of remembering answers. When a service does expensive work, the result "
    "can be kept and served again in microseconds instead of seconds, until it expires. {n}",
]


def text(n: int) -> str:
    return TEXTS[0].format(n=n)  # a new text each time: no cache hit stands in for a generation


def paying_env(**env: str) -> dict[str, str]:
    return {
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "FREE_TIER_DAILY_LIMIT": "1",
        "RATE_LIMIT_PREMIUM_REQUESTS": str(PREMIUM_HOURLY),
    } | env


async def deliver(
    client: httpx.AsyncClient, payload: bytes, signature: str | None = None
) -> httpx.Response:
    return await client.post(
        WEBHOOK,
        content=payload,
        headers={
            "content-type": "application/json; charset=utf-8",
            "stripe-signature": sign(payload) if signature is None else signature,
        },
    )


async def grants(redis: Redis, user_id: str) -> list[bytes]:
    key = premium_key(account_holder(user_id))
    fields: list[bytes] = await redis.hkeys(key)  # type: ignore[assignment]
    return sorted(f for f in fields if f.startswith(b"g:"))


async def premium_until(redis: Redis, user_id: str) -> int:
    raw = await redis.hget(premium_key(account_holder(user_id)), "until")
    assert raw is not None
    return int(raw)


async def test_a_signed_checkout_makes_the_next_generate_premium_once(redis: Redis) -> None:
    settings = account_settings(REDIS_URL=TEST_REDIS_URL, **paying_env())
    async with running_app(settings) as client:
        ann = await sign_up(client, "ann@example.com")
        token, user_id = ann["access_token"], ann["user"]["user_id"]
        free = await client.post("/api/generate", json={"text": text(1)}, headers=bearer(token))
        assert free.status_code == 200
        assert '"hourly";q=50;' in free.headers["ratelimit-policy"]
        limited = await client.post("/api/generate", json={"text": text(2)}, headers=bearer(token))
        assert (limited.status_code, limited.json()["code"]) == (402, "quota_exceeded")

        payload = event("checkout.session.completed", checkout_completed(user_id))
        tampered = await deliver(client, payload.replace(b'"paid"', b'"PAID"'), sign(payload))
        stale = await deliver(client, payload, sign(payload, at=time.time() - 600))
        assert [r.status_code for r in (tampered, stale)] == [400, 400]
        assert {r.json()["code"] for r in (tampered, stale)} == {"invalid_signature"}
        assert await redis.exists(premium_key(account_holder(user_id))) == 0

        granted = await deliver(client, payload)
        assert granted.status_code == 200
        assert granted.json()["outcome"] == "premium_granted"
        now = await redis_ms(redis)

        premium = await client.post("/api/generate", json={"text": text(3)}, headers=bearer(token))
        assert premium.status_code == 200, premium.text
        assert f'"hourly";q={PREMIUM_HOURLY};' in premium.headers["ratelimit-policy"]

        replays = [await deliver(client, payload) for _ in range(3)]
        assert all(r.status_code == 200 and r.json()["duplicate"] for r in replays)
        me = await client.get("/api/auth/me", headers=bearer(token))

    assert me.json()["is_premium"] is True
    assert await grants(redis, user_id) == [b"g:stripe:cs_test_a1"]
    until_ms = await premium_until(redis, user_id)
    assert now + 30 * DAY_MS - 10_000 <= until_ms <= now + 30 * DAY_MS  # 30 days, not 60
    ttl = await redis.ttl(event_key("evt_test_1"))
    assert EVENT_TTL_SECONDS - 60 <= ttl <= EVENT_TTL_SECONDS


async def test_a_refund_and_a_cancellation_take_back_their_own_grants_only(redis: Redis) -> None:
    """On the real Redis (its Lua and cjson): an admin's year, a purchase and two monthly
    periods of a subscription; the refund takes back the purchase's 30 days, the cancellation
    the latest period's 31, and the year and the first period stay. A refund handled before
    its payment's event leaves that payment without effect."""
    admin_key = "stripe-admin-key-0123456789"
    settings = account_settings(REDIS_URL=TEST_REDIS_URL, API_KEYS=admin_key, **paying_env())
    async with running_app(settings) as client:
        ann = await sign_up(client, "ann@example.com")
        user_id = ann["user"]["user_id"]
        year = await client.post(
            "/api/premium/grant",
            json={"email": "ann@example.com", "duration_days": 365, "reference": "INV-1"},
            headers={"X-API-Key": admin_key},
        )
        assert year.status_code == 200, year.text
        admin_until = await premium_until(redis, user_id)
        now = int(time.time())
        paid = event("checkout.session.completed", checkout_completed(user_id), event_id="e1")
        first = invoice(user_id, invoice_id="in_1", reason="subscription_create")
        second = invoice(user_id, invoice_id="in_2", period=(now, now + 31 * DAY))
        refunded = event("charge.refunded", charge(), event_id="e4")
        cancelled = event("customer.subscription.deleted", subscription(), event_id="e5")
        answers = [
            await deliver(client, payload)
            for payload in (
                paid,
                event("invoice.paid", first, event_id="e2"),
                event("invoice.paid", second, event_id="e3"),
            )
        ]
        assert [a.json()["outcome"] for a in answers] == ["premium_granted"] * 3
        assert await premium_until(redis, user_id) == admin_until + (30 + 31 + 31) * DAY_MS
        assert (await deliver(client, refunded)).json()["outcome"] == "premium_revoked"
        assert (await deliver(client, cancelled)).json()["outcome"] == "premium_revoked"
        assert await premium_until(redis, user_id) == admin_until + 31 * DAY_MS

        early = charge("ch_2", payment_intent="pi_2")
        assert (await deliver(client, event("charge.refunded", early, event_id="e6"))).json()[
            "outcome"
        ] == "holder_not_found"
        late = checkout_completed(user_id, session_id="cs_2", payment_intent="pi_2")
        answer = await deliver(client, event("checkout.session.completed", late, event_id="e7"))
        assert answer.json()["outcome"] == "revoked_before_grant"
        assert await premium_until(redis, user_id) == admin_until + 31 * DAY_MS
    ttl = await redis.ttl(link_key("pi_test_1"))
    assert LINK_TTL_SECONDS - 60 <= ttl <= LINK_TTL_SECONDS


async def test_redis_down_during_the_webhook_is_a_503_and_the_retry_grants_once(
    tmp_path: Path,
) -> None:
    if not shutil.which("redis-server"):
        pytest.skip("needs the redis-server command")
    server = RedisServer(free_port(), tmp_path)
    url = f"redis://127.0.0.1:{server.port}/0"
    settings = account_settings(REDIS_URL=url, REDIS_TIMEOUT_SECONDS="0.5", **paying_env())
    await server.start()
    try:
        async with running_app(settings) as client:
            ann = await sign_up(client, "ann@example.com")
            token, user_id = ann["access_token"], ann["user"]["user_id"]
            payload = event("checkout.session.completed", checkout_completed(user_id))

            await server.stop()
            down = await deliver(client, payload)
            assert down.status_code == 503, down.text
            assert down.json()["code"] == "storage_unavailable"
            assert int(down.headers["retry-after"]) >= 1

            await server.start()
            answers: list[httpx.Response] = []

            async def stripe_retries() -> bool:  # Stripe's retries, until one is answered 200
                answers.append(await deliver(client, payload))
                return answers[-1].status_code == 200

            await until(stripe_retries, within=20)  # once the breaker lets a probe through
            assert {a.status_code for a in answers[:-1]} <= {503}
            assert answers[-1].json()["outcome"] == "premium_granted"
            again = await deliver(client, payload)
            me = await client.get("/api/auth/me", headers=bearer(token))
            direct = Redis.from_url(url)
            try:
                held = await grants(direct, user_id)
                until_ms, now = await premium_until(direct, user_id), await redis_ms(direct)
            finally:
                await direct.aclose()
    finally:
        await server.stop()
    assert again.json()["duplicate"] is True
    assert me.json()["is_premium"] is True
    assert held == [b"g:stripe:cs_test_a1"]
    assert until_ms <= now + 30 * DAY_MS  # granted once: 30 days, not 60


class StripeStandIn:
    """Stripe's API on a local port, over real HTTP/1.1: answers every request with a
    Checkout Session and keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        pairs = (line.split(": ", 1) for line in head[1:] if ": " in line)
        headers = {name.lower(): value for name, value in pairs}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((head[0], headers, body))
        reply = json.dumps({"id": "cs_test_a1", "object": "checkout.session", "url": SESSION_URL})
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + f"content-length: {len(reply)}\r\n\r\n{reply}".encode()
        )
        await writer.drain()
        writer.close()


async def test_a_checkout_goes_to_stripe_api_base_over_http(redis: Redis) -> None:
    stand_in = StripeStandIn()
    async with stand_in as base:
        settings = account_settings(
            REDIS_URL=TEST_REDIS_URL,
            STRIPE_SECRET_KEY="sk_test_local",
            STRIPE_API_BASE=base,
            CORS_ORIGINS="https://app.threadr.test",
        )
        async with running_app(settings) as client:
            ann = await sign_up(client, "ann@example.com")
            response = await client.post(
                "/api/stripe/create-checkout-session", headers=bearer(ann["access_token"])
            )
    assert response.status_code == 200, response.text
    assert response.json() == {"checkout_url": SESSION_URL, "session_id": "cs_test_a1"}
    ((line, headers, body),) = stand_in.received
    assert line == "POST /v1/checkout/sessions HTTP/1.1"
    assert headers["authorization"] == "Bearer sk_test_local"
    form: dict[str, Any] = dict(httpx.QueryParams(body.decode()))
    assert form["client_reference_id"] == form["metadata[user_id]"] == ann["user"]["user_id"]
