"""Accounts over HTTP on fakeredis (Lua included): registration and its rules, one account per
email however it is spelled, sessions (listing, revoking, the per-account cap, every way a
token fails), premium (grants, replays, claims, the premium tier of generate), the sign-in
limits, a sign-in that does the same work and says the same words whichever part was wrong,
and what happens with Redis down or not configured."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import fakeredis
import httpx
import msgspec
import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import (
    PASSWORD,
    BrokenRedis,
    GatedHasher,
    account_settings,
    bearer,
    next_ms,
    running_app,
    running_services,
    sign_up,
    until,
)
from threadr.accounts.passwords import Passwords
from threadr.accounts.premium import account_holder
from threadr.accounts.sessions import token_hash
from threadr.accounts.users import Account
from threadr.storage.keys import account_key, session_key

KEY = "accounts-admin-key-0123456789"
ADMIN = {"X-API-Key": KEY}
DAY = 86_400
# Well formed, never issued: with Redis away, nobody can tell whether it is live.
UNCHECKED_TOKEN = "thr_" + "0" * 24 + "_" + "A" * 43
INVALID_TOKEN = {
    "detail": "Your session has expired or was signed out; please sign in again.",
    "code": "invalid_token",
}
WRONG_CREDENTIALS = {
    "detail": "That email and password do not match an account.",
    "code": "invalid_credentials",
}
TEXTS = [
    "Caching is the art of remembering answers, and serving them again quickly. " * 4,
    "Rate limits keep one client from spending everyone's share of a service. " * 4,
    "Sessions let a server remember who is asking without asking for a password again. " * 4,
]


def fake() -> FakeRedis:
    return FakeRedis(server=fakeredis.FakeServer())


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/auth/me", headers=bearer(token))


async def grant(
    client: httpx.AsyncClient, email: str, days: int, reference: str, headers: dict[str, str]
) -> httpx.Response:
    body = {"email": email, "duration_days": days, "reference": reference}
    return await client.post("/api/premium/grant", json=body, headers=headers)


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def stored_account(redis: FakeRedis, email: str) -> Account:
    raw = await redis.get(account_key(email))
    assert isinstance(raw, bytes), f"no account for {email}"
    return msgspec.msgpack.decode(raw, type=Account)


# Registration and sign-in


async def test_registering_signs_in_and_me_shows_the_account() -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        response = await client.post(
            "/api/auth/register", json={"email": "ann@example.com", "password": PASSWORD}
        )
        assert response.status_code == 201
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert (body["token_type"], body["expires_in"]) == ("bearer", 30 * DAY)
        user = body["user"]
        assert (user["email"], user["is_premium"], user["premium_expires_at"]) == (
            "ann@example.com",
            False,
            None,
        )
        assert abs(epoch(user["created_at"]) - time.time()) < 60
        profile = await me(client, body["access_token"])
        assert profile.status_code == 200
        shown = profile.json()
        assert shown["user_id"] == user["user_id"] and shown["email"] == "ann@example.com"
        assert shown["is_premium"] is False
        assert shown["usage"]["daily_remaining"] == shown["usage"]["daily_limit"]
        signed = await login(client, "ann@example.com")
        assert signed.status_code == 200 and signed.headers["cache-control"] == "no-store"
        assert signed.json()["user"]["user_id"] == user["user_id"]
        assert signed.json()["access_token"] != body["access_token"]  # a session of its own


@pytest.mark.parametrize(
    ("email", "password", "code", "detail"),
    [
        (
            "ann@example.com",
            "short-pw1",
            "password_too_short",
            "Choose a password of at least 10 characters.",
        ),
        (
            "ann@example.com",
            "violet-harbour-" * 18,  # 270
            "password_too_long",
            "Choose a password of at most 256 characters.",
        ),
        (
            "ann@example.com",
            "ANN@example.com",
            "password_is_email",
            "Choose a password that is not your email address.",
        ),
        (
            "annabelle.lee@example.com",
            "Annabelle.Lee",
            "password_is_email",
            "Choose a password that is not your email address.",
        ),
        (
            "ann@example.com",
            "aaaaaaaaaaaa",
            "password_too_common",
            "That password is among the most common ones and is guessed first; choose another.",
        ),
        (
            "ann@example.com",
            "1234567890",
            "password_too_common",
            "That password is among the most common ones and is guessed first; choose another.",
        ),
    ],
)
async def test_each_password_rule_is_a_422_with_its_code(
    email: str, password: str, code: str, detail: str
) -> None:
    redis = fake()
    async with running_app(account_settings(), redis=redis) as client:
        response = await client.post(
            "/api/auth/register", json={"email": email, "password": password}
        )
    assert response.status_code == 422
    assert response.json() == {"detail": detail, "code": code}
    assert await redis.exists(account_key(email)) == 0


async def test_an_email_is_one_account_however_it_is_spelled() -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        ann = await sign_up(client, " Ann@EXAMPLE.com ")
        assert ann["user"]["email"] == "ann@example.com"
        for spelling in ("ann@example.com", "ANN@example.COM", "ann@example.com."):
            response = await login(client, spelling)
            assert response.status_code == 200, spelling
            assert response.json()["user"]["user_id"] == ann["user"]["user_id"]
        # IDNA: the domain as Unicode and as its ASCII form is one mailbox.
        bob = await sign_up(client, "bob@Bücher.DE")
        assert bob["user"]["email"] == "bob@xn--bcher-kva.de"
        for spelling in ("bob@xn--bcher-kva.de", "Bob@bücher.de"):
            response = await login(client, spelling)
            assert response.status_code == 200, spelling
            assert response.json()["user"]["user_id"] == bob["user"]["user_id"]
        taken = await client.post(
            "/api/auth/register", json={"email": "BOB@xn--bcher-kva.de", "password": PASSWORD}
        )
        assert taken.status_code == 409
        assert taken.json() == {
            "detail": "An account with this email already exists; sign in instead.",
            "code": "email_taken",
        }
        bad = await client.post(
            "/api/auth/register", json={"email": "not an address", "password": PASSWORD}
        )
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_email"


async def test_hashes_use_the_configured_parameters_and_sign_in_upgrades_old_ones() -> None:
    server = fakeredis.FakeServer()
    redis = FakeRedis(server=server)
    async with running_app(account_settings(), redis=redis) as before:
        await sign_up(before, "ann@example.com")
    old = (await stored_account(redis, "ann@example.com")).password_hash
    used = extract_parameters(old)
    assert (used.type, used.time_cost, used.memory_cost, used.parallelism) == (Type.ID, 1, 8, 1)

    stronger = account_settings(
        ARGON2_TIME_COST="2", ARGON2_MEMORY_KIB="16", ARGON2_PARALLELISM="2"
    )
    async with running_app(stronger, redis=FakeRedis(server=server)) as after:
        assert (await login(after, "ann@example.com")).status_code == 200
        new = (await stored_account(redis, "ann@example.com")).password_hash
        used = extract_parameters(new)
        assert (used.type, used.time_cost, used.memory_cost, used.parallelism) == (
            Type.ID,
            2,
            16,
            2,
        )
        assert (await login(after, "ann@example.com")).status_code == 200  # the new hash works
        assert (await stored_account(redis, "ann@example.com")).password_hash == new  # once
        wrong = await login(after, "ann@example.com", PASSWORD + "!")
        assert wrong.status_code == 401


async def test_a_full_hashing_queue_answers_503_auth_busy() -> None:
    async with running_services(account_settings(), redis=fake()) as (client, services):
        await sign_up(client, "bob@example.com")
        services.auth.passwords.close()
        gated = GatedHasher()
        services.auth.passwords = Passwords(time_cost=1, memory_kib=8, parallelism=1, queue=1)
        services.auth.passwords.hasher = gated
        held = asyncio.create_task(
            client.post(
                "/api/auth/register", json={"email": "ann@example.com", "password": PASSWORD}
            )
        )
        try:
            await until(gated.entered.is_set)
            busy = [
                await client.post(
                    "/api/auth/register", json={"email": "cleo@example.com", "password": PASSWORD}
                ),
                await login(client, "bob@example.com"),
            ]
        finally:
            gated.gate.set()
        assert (await held).status_code == 201
        for response in busy:
            assert response.status_code == 503
            assert response.json() == {
                "detail": "Too many sign-ins are being checked at once; please try again in a "
                "few seconds.",
                "code": "auth_busy",
            }
            assert response.headers["retry-after"] == "2"
        assert (await login(client, "bob@example.com")).status_code == 200
        assert (await login(client, "ann@example.com")).status_code == 200
        services.auth.passwords.close()


# Sessions


async def test_sessions_are_listed_newest_first_with_the_current_one_marked() -> None:
    redis = fake()
    async with running_app(account_settings(), redis=redis) as client:
        first = (await sign_up(client, "ann@example.com"))["access_token"]
        tokens = [first]
        for agent in ("phone/1.0", "tablet/2.0"):
            await next_ms(redis)
            response = await login(client, "ann@example.com", **{"User-Agent": agent})
            tokens.append(response.json()["access_token"])
        listed = await client.get("/api/auth/sessions", headers=bearer(tokens[1]))
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "no-store"
    sessions = listed.json()["sessions"]
    assert [(s["user_agent"], s["current"]) for s in sessions] == [
        ("tablet/2.0", False),
        ("phone/1.0", True),
        ("python-httpx/" + httpx.__version__, False),
    ]
    assert {s["ip"] for s in sessions} == {"127.0.0.1"}
    assert len({s["id"] for s in sessions}) == 3
    for token in tokens:  # an id is neither the token nor its hash
        assert token not in listed.text and token_hash(token) not in listed.text
        assert token.split("_", 2)[2] not in listed.text


async def test_a_session_is_revoked_by_its_own_account_only() -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        ann = (await sign_up(client, "ann@example.com"))["access_token"]
        ann_phone = (await login(client, "ann@example.com")).json()["access_token"]
        bob = (await sign_up(client, "bob@example.com"))["access_token"]
        ann_sessions = (await client.get("/api/auth/sessions", headers=bearer(ann))).json()
        [phone_sid] = [s["id"] for s in ann_sessions["sessions"] if not s["current"]]
        bob_sessions = (await client.get("/api/auth/sessions", headers=bearer(bob))).json()
        [bob_sid] = [s["id"] for s in bob_sessions["sessions"]]

        not_found = {"detail": "You have no session with that id.", "code": "session_not_found"}
        for sid in (bob_sid, "0123456789abcdef", "not-an-id", phone_sid.upper()):
            response = await client.delete(f"/api/auth/sessions/{sid}", headers=bearer(ann))
            assert response.status_code == 404, sid
            assert response.json() == not_found
        assert (await me(client, bob)).status_code == 200
        assert (await me(client, ann_phone)).status_code == 200

        revoked = await client.delete(f"/api/auth/sessions/{phone_sid}", headers=bearer(ann))
        assert revoked.status_code == 204 and revoked.content == b""
        gone = await me(client, ann_phone)
        assert gone.status_code == 401 and gone.json() == INVALID_TOKEN
        assert (await me(client, ann)).status_code == 200
        again = await client.delete(f"/api/auth/sessions/{phone_sid}", headers=bearer(ann))
        assert again.status_code == 404


async def test_past_sessions_per_account_the_oldest_stops_working() -> None:
    redis = fake()
    async with running_app(account_settings(SESSIONS_PER_ACCOUNT="2"), redis=redis) as client:
        tokens = [(await sign_up(client, "ann@example.com"))["access_token"]]
        for _ in range(2):
            await next_ms(redis)
            tokens.append((await login(client, "ann@example.com")).json()["access_token"])
        oldest = await me(client, tokens[0])
        assert oldest.status_code == 401 and oldest.json() == INVALID_TOKEN
        for token in tokens[1:]:
            assert (await me(client, token)).status_code == 200
        listed = await client.get("/api/auth/sessions", headers=bearer(tokens[2]))
        assert len(listed.json()["sessions"]) == 2


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token",
        "Bearer " + UNCHECKED_TOKEN,
        "Bearer thr_0123456789abcdef01234567_" + "A" * 44,
        "Bearer " + "A" * 600,
        "Bearer ",
        "Bearer",
        "Basic YW5uOnBhc3N3b3Jk",
        "Token " + UNCHECKED_TOKEN,
        UNCHECKED_TOKEN,
    ],
)
async def test_a_token_that_is_not_a_live_bearer_token_is_401(authorization: str) -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        headers = {"Authorization": authorization}
        for method, path in [
            ("GET", "/api/auth/me"),
            ("GET", "/api/auth/sessions"),
            ("POST", "/api/auth/logout"),
            ("GET", "/api/premium/check"),
            ("GET", "/api/usage/status"),
        ]:
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.json()["code"] == "invalid_token"
        # Never served as anonymous: a client that sent a token meant to be signed in.
        generated = await client.post("/api/generate", json={"text": TEXTS[0]}, headers=headers)
        assert generated.status_code == 401 and generated.json()["code"] == "invalid_token"


async def test_without_a_token_me_is_401_not_signed_in() -> None:
    async with running_app(account_settings(), redis=fake()) as client:
        for method, path in [
            ("GET", "/api/auth/me"),
            ("GET", "/api/auth/sessions"),
            ("POST", "/api/auth/logout"),
            ("DELETE", "/api/auth/sessions/0123456789abcdef"),
        ]:
            response = await client.request(method, path)
            assert response.status_code == 401, path
            assert response.json() == {
                "detail": "Sign in first: send your session token as "
                "`Authorization: Bearer <token>`.",
                "code": "not_signed_in",
            }


async def test_logged_out_and_expired_sessions_are_401_invalid_token() -> None:
    redis = fake()
    async with running_app(account_settings(), redis=redis) as client:
        signed = await sign_up(client, "ann@example.com")
        token, user_id = signed["access_token"], signed["user"]["user_id"]
        out = await client.post("/api/auth/logout", headers=bearer(token))
        assert out.status_code == 204
        after = await me(client, token)
        assert after.status_code == 401 and after.json() == INVALID_TOKEN

        expiring = (await login(client, "ann@example.com")).json()["access_token"]
        assert (await me(client, expiring)).status_code == 200
        key = session_key(user_id, token_hash(expiring))
        await redis.hset(key, "max_until", str(int(time.time() * 1000) - 1))
        expired = await me(client, expiring)
        assert expired.status_code == 401 and expired.json() == INVALID_TOKEN
        assert await redis.exists(key) == 0


# Premium


async def test_grants_extend_premium_and_a_reference_replays() -> None:
    async with running_app(account_settings(API_KEYS=KEY), redis=fake()) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        first = await grant(client, "ann@example.com", 30, "inv-1", ADMIN)
        assert first.status_code == 200
        assert first.json()["applied"] is True and first.json()["holder"] == "account"
        assert abs(epoch(first.json()["expires_at"]) - (time.time() + 30 * DAY)) < 60
        second = await grant(client, " ANN@example.com", 30, "inv-2", ADMIN)
        assert second.json()["applied"] is True
        assert epoch(second.json()["expires_at"]) - epoch(first.json()["expires_at"]) == 30 * DAY
        replay = await grant(client, "ann@example.com", 30, " inv-1 ", ADMIN)
        assert replay.status_code == 200
        assert replay.json() == {
            "success": True,
            "expires_at": second.json()["expires_at"],
            "applied": False,
            "holder": "account",
        }
        shown = (await me(client, token)).json()
        assert shown["is_premium"] is True
        assert shown["premium_expires_at"] == second.json()["expires_at"]
        check = (await client.get("/api/premium/check", headers=bearer(token))).json()
        assert check["has_premium"] is True and check["needs_payment"] is False


async def test_ended_premium_shows_as_free() -> None:
    settings = account_settings(API_KEYS=KEY)
    async with running_services(settings, redis=fake()) as (client, services):
        signed = await sign_up(client, "ann@example.com")
        token = signed["access_token"]
        await grant(client, "ann@example.com", 30, "inv-1", ADMIN)
        assert (await me(client, token)).json()["is_premium"] is True
        holder = account_holder(signed["user"]["user_id"])
        await services.auth.premium.end(holder, "refund-inv-1", "admin")
        shown = (await me(client, token)).json()
        assert (shown["is_premium"], shown["premium_expires_at"]) == (False, None)


async def test_a_grant_to_an_email_without_account_is_claimed_when_it_registers() -> None:
    async with running_app(account_settings(API_KEYS=KEY), redis=fake()) as client:
        paid = await grant(client, "Cleo@Example.com", 30, "inv-9", ADMIN)
        assert paid.status_code == 200 and paid.json()["holder"] == "email"
        signed = await sign_up(client, "cleo@example.com")
        token = signed["access_token"]
        shown = (await me(client, token)).json()
        assert shown["is_premium"] is True
        assert abs(epoch(shown["premium_expires_at"]) - epoch(paid.json()["expires_at"])) <= 1
        # The sign-up's own answer says so too: a frontend shows the premium it paid for.
        assert signed["user"]["is_premium"] is True
        assert signed["user"]["premium_expires_at"] == shown["premium_expires_at"]
        # Signing in again claims again: nothing is left to move, nothing is added twice.
        for _ in range(2):
            answer = (await login(client, "cleo@example.com")).json()
            assert answer["user"]["premium_expires_at"] == shown["premium_expires_at"]
            again = answer["access_token"]
            assert (await me(client, again)).json()["premium_expires_at"] == shown[
                "premium_expires_at"
            ]
        # The account now holds the grant's reference: its replay changes nothing.
        replay = await grant(client, "cleo@example.com", 30, "inv-9", ADMIN)
        assert replay.json()["applied"] is False and replay.json()["holder"] == "account"


async def test_a_premium_account_generates_on_the_premium_tier_without_quota() -> None:
    settings = account_settings(
        API_KEYS=KEY, FREE_TIER_DAILY_LIMIT="1", RATE_LIMIT_PREMIUM_REQUESTS="500"
    )
    async with running_app(settings, redis=fake()) as client:
        free = (await sign_up(client, "ann@example.com"))["access_token"]
        paying = (await sign_up(client, "bob@example.com"))["access_token"]
        await grant(client, "bob@example.com", 30, "inv-1", ADMIN)

        # The quota is on: a free account's second generation of the day is refused.
        ok = await client.post("/api/generate", json={"text": TEXTS[0]}, headers=bearer(free))
        assert ok.status_code == 200
        assert '"hourly";q=50;' in ok.headers["ratelimit-policy"]
        refused = await client.post("/api/generate", json={"text": TEXTS[1]}, headers=bearer(free))
        assert refused.status_code == 402 and refused.json()["code"] == "quota_exceeded"

        for text in TEXTS:
            response = await client.post(
                "/api/generate", json={"text": text + " Premium."}, headers=bearer(paying)
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-cache"] == "MISS"  # each one generated, none from cache
            assert '"hourly";q=500;' in response.headers["ratelimit-policy"]
        status = (await client.get("/api/usage/status", headers=bearer(paying))).json()
        assert status["has_premium"] is True


async def test_the_grant_endpoint_is_for_admins_with_valid_input() -> None:
    async with running_app(account_settings(), redis=fake()) as closed:
        response = await grant(closed, "ann@example.com", 30, "inv-1", ADMIN)
        assert response.status_code == 401 and response.json()["code"] == "admin_closed"

    async with running_app(account_settings(API_KEYS=KEY), redis=fake()) as client:
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        for headers in ({"X-API-Key": "wrong-key-0123456789abcdef"}, {}):
            response = await grant(client, "ann@example.com", 30, "inv-1", headers)
            assert response.status_code == 401 and response.json()["code"] == "unauthorized"
        for days in (0, 367, -1):
            response = await grant(client, "ann@example.com", days, "inv-1", ADMIN)
            assert response.status_code == 422 and response.json()["code"] == "validation_error"
        for reference in ("", "   ", "x" * 201, "tab\there"):
            response = await grant(client, "ann@example.com", 30, reference, ADMIN)
            assert response.status_code == 422, reference
            assert response.json()["code"] == "invalid_reference"
        bad_email = await grant(client, "nobody", 30, "inv-1", ADMIN)
        assert bad_email.status_code == 422 and bad_email.json()["code"] == "invalid_email"
        assert (await me(client, token)).json()["is_premium"] is False  # nothing got through
        for days in (1, 366):
            response = await grant(client, "ann@example.com", days, f"inv-{days}", ADMIN)
            assert response.status_code == 200
        assert (await me(client, token)).json()["is_premium"] is True


# Sign-in limits


async def test_sign_in_attempts_are_limited_per_email_and_per_client() -> None:
    settings = account_settings(LOGIN_ATTEMPTS_PER_CLIENT="8")
    policy = '"login-email";q=5;w=900, "login";q=8;w=3600'
    async with running_app(settings, redis=fake()) as client:
        await sign_up(client, "ann@example.com")
        for _ in range(5):  # wrong or right, every attempt counts
            response = await login(client, "ann@example.com", "not-the-password-1")
            assert response.status_code == 401
            assert response.headers["ratelimit-policy"] == policy
        sixth = await login(client, " ANN@example.com ")  # the right password, another spelling
        assert sixth.status_code == 429 and sixth.json()["code"] == "rate_limited"
        assert int(sixth.headers["retry-after"]) > 0
        assert sixth.headers["ratelimit"].startswith('"login-email";r=0;t=')
        assert sixth.headers["ratelimit-policy"] == policy

        # Another email from the same client goes on, until the client's own limit (8).
        for _ in range(3):
            response = await login(client, "bob@example.com")
            assert response.status_code == 401 and response.json() == WRONG_CREDENTIALS
        ninth = await login(client, "bob@example.com")
        assert ninth.status_code == 429
        assert ninth.headers["ratelimit"].startswith('"login";r=0;t=')
        assert int(ninth.headers["retry-after"]) > 0


async def test_unknown_email_and_wrong_password_look_and_cost_the_same() -> None:
    class CountingHasher(PasswordHasher):
        def __init__(self) -> None:
            super().__init__(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
            self.calls: list[str] = []

        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            self.calls.append("hash")
            return super().hash(password, salt=salt)

        def verify(self, hash: str | bytes, password: str | bytes) -> Any:
            self.calls.append("verify")
            return super().verify(hash, password)

    async with running_services(account_settings(), redis=fake()) as (client, services):
        await sign_up(client, "ann@example.com")
        hasher = CountingHasher()
        services.auth.passwords.hasher = hasher
        # The decoy hash that "no such account" is checked against is made once per process,
        # at the first hash or check; from then on both cases do the same work.
        first = await login(client, "nobody@example.com")
        answers = {}
        for case, email, password in [
            ("wrong password", "ann@example.com", PASSWORD + "!"),
            ("unknown email", "nobody@example.org", PASSWORD),
        ]:
            hasher.calls.clear()
            response = await login(client, email, password)
            assert hasher.calls == ["verify"], case
            answers[case] = (response.status_code, response.json())
        hasher.calls.clear()
        assert (await login(client, "ann@example.com")).status_code == 200
        assert hasher.calls == ["verify"]  # the right password: no rehash with equal parameters
    assert answers["wrong password"] == answers["unknown email"] == (401, WRONG_CREDENTIALS)
    assert (first.status_code, first.json()) == (401, WRONG_CREDENTIALS)


# Without Redis


async def test_with_redis_down_accounts_are_503_and_anonymous_generation_goes_on() -> None:
    async with running_app(account_settings(), redis=BrokenRedis()) as client:
        responses = [
            await client.post(
                "/api/auth/register", json={"email": "ann@example.com", "password": PASSWORD}
            ),
            await login(client, "ann@example.com"),
            await client.post("/api/auth/logout", headers=bearer(UNCHECKED_TOKEN)),
            await me(client, UNCHECKED_TOKEN),
            await client.get("/api/auth/sessions", headers=bearer(UNCHECKED_TOKEN)),
            # Signed in, generating needs the session checked: whose quota and tier it is, and
            # whether the token was revoked, are in Redis. Serving it as anonymous would charge
            # the wrong identity; serving it as signed in would honour signed-out tokens.
            await client.post(
                "/api/generate", json={"text": TEXTS[0]}, headers=bearer(UNCHECKED_TOKEN)
            ),
        ]
        for response in responses:
            assert response.status_code == 503, response.request.url
            assert response.json()["code"] == "storage_unavailable"
            assert int(response.headers["retry-after"]) >= 1
        anonymous = await client.post("/api/generate", json={"text": TEXTS[0]})
        assert anonymous.status_code == 200
        # A malformed token needs no Redis to be refused.
        malformed = await client.post(
            "/api/generate", json={"text": TEXTS[0]}, headers=bearer("thr_nope")
        )
        assert malformed.status_code == 401


async def test_without_redis_configured_accounts_say_why_they_cannot_work() -> None:
    not_configured = {
        "detail": "Accounts need a database, and this server has none configured "
        "(REDIS_URL is not set).",
        "code": "storage_not_configured",
    }
    async with running_app(account_settings(API_KEYS=KEY)) as client:
        responses = [
            await client.post(
                "/api/auth/register", json={"email": "ann@example.com", "password": PASSWORD}
            ),
            await login(client, "ann@example.com"),
            await client.post("/api/auth/logout", headers=bearer(UNCHECKED_TOKEN)),
            await me(client, UNCHECKED_TOKEN),
            await grant(client, "ann@example.com", 30, "inv-1", ADMIN),
            await client.post(
                "/api/generate", json={"text": TEXTS[0]}, headers=bearer(UNCHECKED_TOKEN)
            ),
        ]
        for response in responses:
            assert response.status_code == 503, response.request.url
            assert response.json() == not_configured
            assert "retry-after" not in response.headers  # retrying will not help
        assert (await client.post("/api/generate", json={"text": TEXTS[0]})).status_code == 200
        check = await client.get("/api/premium/check")
        assert check.status_code == 200 and check.json()["has_premium"] is False


async def test_a_corrupt_session_or_account_record_is_never_a_500() -> None:
    redis = fake()
    async with running_app(account_settings(), redis=redis) as client:
        signed = await sign_up(client, "dora@example.com")
        token, user_id = signed["access_token"], signed["user"]["user_id"]
        key = session_key(user_id, token_hash(token))
        await redis.hset(key, mapping={"created_at": "yesterday", "last_seen": "\xff"})
        assert (await me(client, token)).status_code == 200  # unreadable times read as 0
        await redis.set(account_key("dora@example.com"), b"\x93not an account")
        gone = await me(client, token)
        assert (gone.status_code, gone.json()["code"]) == (404, "account_not_found")
        refused = await login(client, "dora@example.com")
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_credentials")
