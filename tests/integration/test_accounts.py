"""Accounts on a real Redis: the whole sign-in round, one winner among 100 concurrent sign-ups of
one email (in process and across two real processes), a signed-in cache hit that costs at most
two round trips, and the session script's sliding expiry and cap."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextvars import ContextVar
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.factories import (
    CHEAP_ARGON2,
    PASSWORD,
    TEST_REDIS_URL,
    account_settings,
    bearer,
    make_gateway,
    redis_ms,
    running_app,
    running_services,
    sign_up,
)
from threadr.accounts.sessions import Sessions, new_user_id, token_hash
from threadr.limits import admission
from threadr.storage.keys import session_key
from threadr.web.app import create_app

from .processes import threadr_servers

TEXT = "Caching is the art of remembering answers, and serving them again quickly. " * 4


async def test_register_login_me_logout(redis: Redis) -> None:
    async with running_app(account_settings(REDIS_URL=TEST_REDIS_URL)) as client:
        registered = await sign_up(client, "ann@example.com")
        signed = await client.post(
            "/api/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
        )
        assert signed.status_code == 200
        token = signed.json()["access_token"]
        shown = await client.get("/api/auth/me", headers=bearer(token))
        assert shown.status_code == 200
        assert shown.json()["user_id"] == registered["user"]["user_id"]
        assert shown.json()["email"] == "ann@example.com"
        out = await client.post("/api/auth/logout", headers=bearer(token))
        assert out.status_code == 204
        after = await client.get("/api/auth/me", headers=bearer(token))
        assert after.status_code == 401 and after.json()["code"] == "invalid_token"
        # Only that session ended: the one registration opened still works.
        still = await client.get("/api/auth/me", headers=bearer(registered["access_token"]))
        assert still.status_code == 200


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    return Counter((r.status_code, r.json().get("code")) for r in responses)


async def test_one_of_100_concurrent_registrations_of_an_email_wins(redis: Redis) -> None:
    settings = account_settings(REDIS_URL=TEST_REDIS_URL, REGISTRATIONS_PER_CLIENT="1000")
    body = {"email": "ann@example.com", "password": PASSWORD}
    async with running_services(settings) as (client, _):
        # All 100 fit the default ARGON2_QUEUE (128): none is refused 503 auth_busy.
        responses = await asyncio.gather(
            *(client.post("/api/auth/register", json=body) for _ in range(100))
        )
    assert outcomes(responses) == {(201, None): 1, (409, "email_taken"): 99}
    assert len(await redis.keys("threadr:account:*")) == 1


async def test_one_of_100_registrations_across_two_processes_wins(redis: Redis) -> None:
    env = {
        "REDIS_URL": TEST_REDIS_URL,
        "ACCESS_LOG": "false",
        "REGISTRATIONS_PER_CLIENT": "1000",
        **CHEAP_ARGON2,
    }
    body = {"email": "ann@example.com", "password": PASSWORD}
    with threadr_servers(2, env) as ports:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        async with httpx.AsyncClient(timeout=30) as http:
            responses = await asyncio.gather(
                *(http.post(f"{bases[n % 2]}/api/auth/register", json=body) for n in range(100))
            )
            assert outcomes(responses) == {(201, None): 1, (409, "email_taken"): 99}
            [winner] = [r for r in responses if r.status_code == 201]
            token = winner.json()["access_token"]
            for base in bases:  # the winner's session works on both
                shown = await http.get(f"{base}/api/auth/me", headers=bearer(token))
                assert shown.status_code == 200


# What the request being measured sends, with RESPONSE where its response started; None outside
# it (the counters' flush, start-up).
_sent: ContextVar[list[bytes] | None] = ContextVar("sent", default=None)
RESPONSE = b"<response>"


class Recording(Connection):
    """A connection that notes each send made inside a measured request: one send is one round
    trip, a command or a whole pipeline, through redis-py or through the gateway's lane (which
    sends packed bytes on connections of the pool's own kind)."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        sent = _sent.get()
        if sent is not None:
            packed = command if isinstance(command, bytes) else b"".join(map(bytes, command))
            sent.append(packed)
        await super().send_packed_command(command, check_health)


def marking_responses(app: ASGIApp) -> ASGIApp:
    """`app`, noting in the measured request's record when its response starts."""

    async def marked(scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Message) -> None:
            sent = _sent.get()
            if sent is not None and message["type"] == "http.response.start":
                sent.append(RESPONSE)
            await send(message)

        await app(scope, receive, noting)

    return marked


def described(packed: bytes) -> tuple[str, str]:
    """A packed command's name, and its first argument (a script's SHA1 for EVALSHA)."""
    parts = packed.split(b"\r\n")  # *N, $len, NAME, $len, ARG, ...
    return parts[2].decode().upper(), parts[4].decode() if len(parts) > 4 else ""


async def test_a_signed_in_cache_hit_costs_one_round_trip(redis: Redis) -> None:
    pool = ConnectionPool.from_url(TEST_REDIS_URL, connection_class=Recording)
    client = Redis.from_pool(pool)  # closes the pool with the client
    app = marking_responses(create_app(account_settings(), redis=client))
    sent: list[bytes] = []
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                token = (await sign_up(http, "ann@example.com"))["access_token"]
                generate = {"json": {"text": TEXT}, "headers": bearer(token)}
                first = await http.post("/api/generate", **generate)  # type: ignore[arg-type]
                assert first.headers["x-cache"] == "MISS"
                measuring = _sent.set(sent)
                try:
                    hit = await http.post("/api/generate", **generate)  # type: ignore[arg-type]
                finally:
                    _sent.reset(measuring)
    finally:
        await client.aclose()
    assert hit.status_code == 200 and hit.headers["x-cache"] == "HIT"
    assert RESPONSE in sent, "the recording did not see the response start"
    # Only what was sent before the response started counts: the history save that follows a
    # signed-in generation is sent after it, so the caller never waits for it.
    before = [described(packed) for packed in sent[: sent.index(RESPONSE)]]
    # The session's lookup (which reads premium and the newest saved thread too), the rate
    # limit and the cache read, in one script call.
    assert before == [("EVALSHA", admission.ACCOUNT_SCRIPT.sha)]
    # Nothing after it: the thread the miss saved is still the newest, so it is not saved again.
    assert sent[sent.index(RESPONSE) + 1 :] == []


async def test_the_session_expiry_slides_and_stops_at_its_cap_on_a_real_redis(
    redis: Redis,
) -> None:
    ttl, cap = 86_400, 3 * 86_400
    store = Sessions(make_gateway(redis), ttl_seconds=ttl, max_seconds=cap, per_account=20)
    user_id = new_user_id()
    token, _ = await store.open(user_id, "ann@example.com", "192.0.2.7", "curl/8.5")
    key = session_key(user_id, token_hash(token))
    slack = 5_000  # ms a slow run may take between a write and a check
    assert ttl * 1000 - slack < await redis.pttl(key) <= ttl * 1000

    await redis.pexpire(key, 50_000)
    assert await store.find(token) is not None
    assert await redis.pttl(key) <= 50_000  # seen within the minute: not slid, not written
    await redis.hset(key, "last_seen", str(await redis_ms(redis) - 61_000))
    assert await store.find(token) is not None
    assert ttl * 1000 - slack < await redis.pttl(key) <= ttl * 1000  # slid

    now = await redis_ms(redis)
    await redis.hset(key, mapping={"max_until": str(now + 600_000), "last_seen": str(now - 61_000)})
    assert await store.find(token) is not None
    assert 600_000 - slack < await redis.pttl(key) <= 600_000  # never past the cap

    await redis.hset(key, "max_until", str(await redis_ms(redis) - 1))
    assert await store.find(token) is None
    assert await redis.exists(key) == 0
