"""Who is signed in: the bearer token of a request, checked against its server-side session,
and the identity limits and quotas count it under (the account, else the client address)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.types import Scope

from threadr.accounts.sessions import Session
from threadr.errors import Unauthorized
from threadr.services import Services

from .context import services
from .identity import ACCOUNT, IDENTITY_KIND, client_host

_AUTHORIZATION = b"authorization"
MAX_TOKEN = 512  # characters; a real token has 76


def bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>`; None without the header; Unauthorized
    (401) for another scheme or an empty token (never silently anonymous)."""
    raw: bytes | None = None
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            raw = value
            break
    if raw is None:
        return None  # the common case: one pass over the headers, nothing decoded
    scheme, _, token = raw.decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN:
        raise Unauthorized(
            "Send the session token as `Authorization: Bearer <token>`.", code="invalid_token"
        )
    return token


async def caller(scope: Scope, running: Services) -> Session | None:
    """The request's session when it carries a token (401 when the token is not live; 503
    when Redis, which holds sessions, cannot be asked); None for an anonymous request."""
    token = bearer_token(scope)
    if token is None:
        return None
    session = await running.auth.authenticate(token)
    scope["state"][IDENTITY_KIND] = ACCOUNT
    return session


async def signed_in(request: Request) -> Session:
    """The session of a request that must be signed in (401 without a token)."""
    session = await caller(request.scope, services(request))
    if session is None:
        raise Unauthorized(
            "Sign in first: send your session token as `Authorization: Bearer <token>`.",
            code="not_signed_in",
        )
    return session


def identity(scope: Scope, session: Session | None, running: Services) -> str:
    """Who limits and quotas count: the account when signed in, else the client address."""
    if session is not None:
        return "user:" + session.user_id
    return client_host(scope, running.settings.rate_limit_ipv6_prefix)


def has_premium(session: Session | None) -> bool:
    return session is not None and session.premium_at(time.time() * 1000)


def premium_expires_at(session: Session | None) -> str | None:
    """The premium expiry as ISO 8601 (UTC) while it is in the future."""
    if not has_premium(session):
        return None
    assert session is not None and session.premium_until is not None
    return iso_ms(session.premium_until)


def iso_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
