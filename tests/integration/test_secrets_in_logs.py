"""No secret in a log line or where it does not belong in a response: the account flows are
driven with every logger at DEBUG (in process), and against a real `threadr serve` with DEBUG
and the access log on (its stderr), and every line is searched for the passwords, the tokens
and their SHA-256, the session ids, the admin keys, the emails and the Stripe webhook secret."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from tests.factories import CHEAP_ARGON2, PASSWORD, TEST_REDIS_URL, bearer, make_settings, until
from threadr.accounts.sessions import token_hash
from threadr.web.app import create_app

from .processes import free_port

KEY = "secrets-admin-key-0123456789abcdef"
WRONG_KEY = "guessed-admin-key-0123456789abcdef"
WEBHOOK_SECRET = "whsec_do-not-log-me-5f4dcc3b5aa765d61d8327deb882cf99"
WRONG_PASSWORD = "maroon-quarry-77-ladders"
WEAK_PASSWORD = "qwertyuiop"
ANN, BOB, CLEO = "ann.secret@example.com", "bob.secret@example.org", "cleo.secret@example.net"
TEXT = "Sessions let a server remember who is asking without asking for a password again. " * 4
ENV = {
    "REDIS_URL": TEST_REDIS_URL,
    "API_KEYS": KEY,
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    **CHEAP_ARGON2,
}


@dataclass
class Flows:
    """What the account flows sent and got back: the secrets to look for, and every body."""

    tokens: list[str] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)
    bodies: list[tuple[str, str]] = field(default_factory=list)  # (what, response text)

    def secrets(self) -> dict[str, str]:
        found = {
            "password": PASSWORD,
            "wrong password": WRONG_PASSWORD,
            "weak password": WEAK_PASSWORD,
            "admin key": KEY,
            "wrong admin key": WRONG_KEY,
            "webhook secret": WEBHOOK_SECRET,
            "email": ANN,
            "unknown email": BOB,
            "granted email": CLEO,
        }
        for n, token in enumerate(self.tokens):
            found[f"token {n}"] = token
            found[f"token {n}'s secret part"] = token.split("_", 2)[2]
            found[f"token {n}'s SHA-256"] = token_hash(token)
        return found


async def drive(http: httpx.AsyncClient) -> Flows:
    """Register, sign in (wrongly and rightly), look, list, grant, generate, revoke, sign out."""
    flows = Flows()

    async def call(what: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        flows.bodies.append((what, response.text))
        return response

    ann = {"email": ANN, "password": PASSWORD}
    registered = await call("register", "POST", "/api/auth/register", json=ann)
    assert registered.status_code == 201, registered.text
    flows.tokens.append(registered.json()["access_token"])
    weak = await call(
        "weak", "POST", "/api/auth/register", json={"email": BOB, "password": WEAK_PASSWORD}
    )
    assert weak.status_code == 422
    wrong = {"email": ANN, "password": WRONG_PASSWORD}
    assert (await call("wrong", "POST", "/api/auth/login", json=wrong)).status_code == 401
    unknown = {"email": BOB, "password": PASSWORD}
    assert (await call("unknown", "POST", "/api/auth/login", json=unknown)).status_code == 401
    signed = await call("login", "POST", "/api/auth/login", json=ann)
    assert signed.status_code == 200
    flows.tokens.append(signed.json()["access_token"])
    first, second = (bearer(token) for token in flows.tokens)

    assert (await call("me", "GET", "/api/auth/me", headers=second)).status_code == 200
    listed = await call("sessions", "GET", "/api/auth/sessions", headers=second)
    flows.sids = [s["id"] for s in listed.json()["sessions"]]
    assert len(flows.sids) == 2
    grant = {"email": ANN, "duration_days": 30, "reference": "inv-secret-1"}
    admin, guess = {"X-API-Key": KEY}, {"X-API-Key": WRONG_KEY}
    assert (await call("grant", "POST", "/api/premium/grant", json=grant, headers=admin)).is_success
    refused = await call("guess", "POST", "/api/premium/grant", json=grant, headers=guess)
    assert refused.status_code == 401
    paid = {"email": CLEO, "duration_days": 30, "reference": "inv-secret-2"}
    assert (await call("paid", "POST", "/api/premium/grant", json=paid, headers=admin)).is_success
    check = await call("check", "GET", "/api/premium/check", headers=second)
    assert check.json()["has_premium"] is True
    generated = await call("generate", "POST", "/api/generate", json={"text": TEXT}, headers=second)
    assert generated.status_code == 200

    [first_sid] = [s["id"] for s in listed.json()["sessions"] if not s["current"]]
    revoke = await call("revoke", "DELETE", f"/api/auth/sessions/{first_sid}", headers=second)
    assert revoke.status_code == 204
    assert (await call("revoked", "GET", "/api/auth/me", headers=first)).status_code == 401
    assert (await call("logout", "POST", "/api/auth/logout", headers=second)).status_code == 204
    assert (await call("after", "GET", "/api/auth/me", headers=second)).status_code == 401
    return flows


def check_bodies(flows: Flows) -> None:
    """A token is in the body that issued it, and nowhere else; no other secret in any."""
    issuer = {"token 0": "register", "token 1": "login"}
    for what, text in flows.bodies:
        for name, secret in flows.secrets().items():
            if issuer.get(name.removesuffix("'s secret part")) == what:
                continue  # the token itself, shown once (never its SHA-256)
            if "email" in name:
                continue  # an account's own email is in its own profile
            assert secret not in text, f"the {name} is in the {what} response: {text}"
    sessions = dict(flows.bodies)["sessions"]
    assert all(sid in sessions for sid in flows.sids)  # the ids are there, and no token


def check_lines(lines: list[str], flows: Flows) -> None:
    secrets = flows.secrets()
    for n, sid in enumerate(flows.sids):
        # Not a credential (it only works with the account's own token), but the line per
        # request names the route's template, never the values in a path.
        secrets[f"session id {n}"] = sid
    assert all(len(secret) >= 10 for secret in secrets.values()), secrets  # none found by luck
    for line in lines:
        for name, secret in secrets.items():
            assert secret.lower() not in line.lower(), f"the {name} is logged: {line}"


async def test_in_process_logs_hold_no_secret(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(make_settings(**ENV))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            flows = await drive(http)
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in ours]
    # Something was logged to search: the refused admin key, at least.
    assert any("admin call refused" in line for line in lines), lines
    check_lines(lines, flows)
    check_bodies(flows)


def text_of(log: Path) -> str:
    return log.read_text("utf-8", "replace")  # a few kilobytes, after the server stopped


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], log: Path) -> AsyncIterator[str]:
    """A real `threadr serve` whose stderr (its logging, the access log) goes to `log`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "OPENAI"))}
    port = free_port()
    threadr = str(Path(sys.executable).with_name("threadr"))
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            threadr, "serve", "--port", str(port), env=base | env, stderr=sink
        )

    def started() -> bool:
        return proc.returncode is not None or b"Uvicorn running on" in log.read_bytes()

    try:
        await until(started, within=30)
        assert proc.returncode is None, text_of(log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_real_servers_log_and_access_log_hold_no_secret(
    redis: Redis, tmp_path: Path, log_format: str
) -> None:
    log = tmp_path / "serve.log"
    env = ENV | {"DEBUG": "true", "ACCESS_LOG": "true", "LOG_FORMAT": log_format}
    async with serving(env, log) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        flows = await drive(http)
    lines = text_of(log).splitlines()
    # The line per request (ours: uvicorn's access log stays off, so there is one a request).
    assert sum("POST /api/auth/login 200 " in line for line in lines) == 1, lines
    assert any("admin call refused" in line for line in lines), lines
    assert any("DELETE /api/auth/sessions/{sid} 204 " in line for line in lines), lines
    assert not any('HTTP/1.1" 200' in line for line in lines), lines  # no uvicorn access line
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        assert any(r["logger"] == "threadr.access" and r["identity"] == "account" for r in records)
    check_lines(lines, flows)
    check_bodies(flows)
