"""Accounts and sessions: POST /api/auth/register, /login, /logout, GET /api/auth/me,
GET /api/auth/sessions and DELETE /api/auth/sessions/{id}."""

from __future__ import annotations

import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from threadr.accounts.auth import SignedIn
from threadr.accounts.sessions import valid_session_id
from threadr.accounts.users import Account
from threadr.errors import NotFound, ThreadrError
from threadr.limits.policies import Policy, login_policies, registration_policies
from threadr.services import Services
from threadr.storage.keys import email_tag
from threadr.subscribers.address import normalise

from .auth import iso_ms, signed_in
from .bodies import decode_body, read_body
from .context import services
from .identity import client_host
from .limits import rate_limit_headers, rate_limited, usage_of
from .responses import JSON
from .schemas import Credentials, Me, SessionInfo, SessionList, TokenResponse, UserProfile

_decode_credentials = msgspec.json.Decoder(Credentials)


def _profile(account: Account, premium_until: int | None) -> UserProfile:
    active = premium_until is not None and premium_until > time.time() * 1000
    return UserProfile(
        user_id=account.user_id,
        email=account.email,
        created_at=iso_ms(account.created_at),
        is_premium=active,
        premium_expires_at=iso_ms(premium_until) if active and premium_until else None,
    )


async def _credentials(request: Request, running: Services) -> Credentials:
    body = await read_body(request.scope, request.receive, running.settings.max_body_bytes)
    return decode_body(body, _decode_credentials)


async def _admit(running: Services, who: str, policies: tuple[Policy, ...]) -> dict[str, str]:
    """Count an attempt on `policies` (429 when one is used up); the RateLimit headers."""
    decision, _ = await running.admission.limiter.hit_policies(who, policies)
    headers = rate_limit_headers(decision)
    if not decision.allowed:
        raise rate_limited(decision, headers)
    return headers


def _client(request: Request) -> tuple[str, str]:
    """The address (the one limits count, before any IPv6 prefix: web/identity.py) and user
    agent a session records."""
    client = request.scope.get("client")
    return (client[0] if client else "unknown"), request.headers.get("user-agent", "")


async def register(request: Request) -> Response:
    """POST /api/auth/register `{email, password}`: a new account, signed in (201)."""
    running = services(request)
    wanted = await _credentials(request, running)
    policies = registration_policies(running.settings)
    who = "register:" + client_host(request.scope, running.settings.rate_limit_ipv6_prefix)
    headers = await _admit(running, who, policies)
    ip, agent = _client(request)
    try:
        signed = await running.auth.register(wanted.email, wanted.password, ip, agent)
    except ThreadrError as exc:
        exc.headers.update(headers)
        raise
    running.analytics.registration()
    return _token(running, signed, 201, headers)


async def login(request: Request) -> Response:
    """POST /api/auth/login `{email, password}`: a new session (200); 401 for wrong
    credentials, in the same words and the same time whichever part was wrong."""
    running = services(request)
    wanted = await _credentials(request, running)
    client = client_host(request.scope, running.settings.rate_limit_ipv6_prefix)
    # Per email and client, and per client, in one call (both keys share the client's tag):
    # an address cannot be guessed at from one place, nor many from one place.
    email = normalise(wanted.email)
    policies = login_policies(running.settings, email_tag(email))
    headers = await _admit(running, "login:" + client, policies)
    ip, agent = _client(request)
    try:
        signed = await running.auth.login(email, wanted.password, ip, agent)
    except ThreadrError as exc:
        exc.headers.update(headers)
        raise
    return _token(running, signed, 200, headers)


def _token(running: Services, signed: SignedIn, status: int, headers: dict[str, str]) -> Response:
    headers = {**headers, "Cache-Control": "no-store"}  # a token is never cached on the way
    body = TokenResponse(
        access_token=signed.token,
        expires_in=running.auth.sessions.expires_in,
        user=_profile(signed.account, signed.premium_until),
    )
    return JSON(body, status, headers)


async def logout(request: Request) -> Response:
    """POST /api/auth/logout: the session ends at once, on every instance (204)."""
    session = await signed_in(request)
    await services(request).auth.sessions.close(session)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    """GET /api/auth/me: the account, its premium and its usage."""
    running = services(request)
    session = await signed_in(request)
    account = await running.auth.accounts.find(session.email)
    if account is None or account.user_id != session.user_id:
        raise NotFound("This account no longer exists.", code="account_not_found")
    profile = _profile(account, session.premium_until)
    return JSON(
        Me(
            **msgspec.structs.asdict(profile),
            usage=await usage_of(request.scope, session, running),
        )
    )


async def list_sessions(request: Request) -> Response:
    """GET /api/auth/sessions: the caller's sessions, newest first; `current` marks this one."""
    session = await signed_in(request)
    found = await services(request).auth.sessions.list(session.user_id)
    return JSON(
        SessionList(
            sessions=[
                SessionInfo(
                    id=s.sid,
                    created_at=iso_ms(s.created_at),
                    last_seen=iso_ms(s.last_seen),
                    ip=s.ip,
                    user_agent=s.user_agent,
                    current=s.sid == session.sid,
                )
                for s in found
            ]
        ),
        headers={"Cache-Control": "no-store"},
    )


async def revoke_session(request: Request) -> Response:
    """DELETE /api/auth/sessions/{id}: end one of the caller's sessions (204); another
    account's id, or one that ended, is a 404."""
    session = await signed_in(request)
    sid = request.path_params["sid"]
    if not valid_session_id(sid) or not await services(request).auth.sessions.revoke(
        session.user_id, sid
    ):
        raise NotFound("You have no session with that id.", code="session_not_found")
    return Response(status_code=204)
