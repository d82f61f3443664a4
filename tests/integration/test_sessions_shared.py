"""Sessions shared by two real `threadr serve` processes on one Redis: a session opened on one
works on the other, and one revoked or signed out on one fails on the other at its next
request (no cache of sessions in a process)."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from tests.factories import CHEAP_ARGON2, PASSWORD, TEST_REDIS_URL, bearer

from .processes import threadr_servers

TEXT = "Sessions let a server remember who is asking without asking for a password again. " * 4


async def test_a_revoked_session_fails_at_once_on_the_other_process(redis: Redis) -> None:
    env = {"REDIS_URL": TEST_REDIS_URL, "ACCESS_LOG": "false", **CHEAP_ARGON2}
    credentials = {"email": "ann@example.com", "password": PASSWORD}
    with threadr_servers(2, env) as ports:
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        async with httpx.AsyncClient(timeout=10) as http:

            async def me_on(base: str, token: str) -> httpx.Response:
                return await http.get(f"{base}/api/auth/me", headers=bearer(token))

            registered = await http.post(f"{a}/api/auth/register", json=credentials)
            assert registered.status_code == 201, registered.text
            laptop = registered.json()["access_token"]
            phone = (await http.post(f"{a}/api/auth/login", json=credentials)).json()[
                "access_token"
            ]
            for token in (laptop, phone):
                assert (await me_on(b, token)).status_code == 200  # opened on A, live on B

            listed = await http.get(f"{a}/api/auth/sessions", headers=bearer(laptop))
            [phone_sid] = [s["id"] for s in listed.json()["sessions"] if not s["current"]]
            revoked = await http.delete(
                f"{a}/api/auth/sessions/{phone_sid}", headers=bearer(laptop)
            )
            assert revoked.status_code == 204
            gone = await me_on(b, phone)  # the very next request, on the other process
            assert gone.status_code == 401 and gone.json()["code"] == "invalid_token"
            generate = await http.post(
                f"{b}/api/generate", json={"text": TEXT}, headers=bearer(phone)
            )
            assert generate.status_code == 401

            assert (await me_on(b, laptop)).status_code == 200  # only that session ended
            out = await http.post(f"{a}/api/auth/logout", headers=bearer(laptop))
            assert out.status_code == 204
            signed_out = await me_on(b, laptop)
            assert signed_out.status_code == 401 and signed_out.json()["code"] == "invalid_token"
            on_b = await http.get(f"{b}/api/auth/sessions", headers=bearer(laptop))
            assert on_b.status_code == 401
