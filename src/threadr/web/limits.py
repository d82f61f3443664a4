"""The limiter and the quota as the client sees them: RateLimit headers and 429 wording from a
decision, GET /api/rate-limit-status and GET /api/usage/status."""

from __future__ import annotations

import functools

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from threadr.accounts.sessions import Session
from threadr.errors import RateLimited
from threadr.limits.policies import Decision
from threadr.limits.quota import UsageStatus
from threadr.services import Services

from .auth import caller, has_premium, identity, premium_expires_at
from .context import services
from .responses import JSON
from .schemas import PolicyStatus, RateLimitStatus


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """Headers of draft-ietf-httpapi-ratelimit-headers-10, plus Retry-After when denied."""
    closest = decision.closest
    if closest is None:
        return {}
    headers = {
        "RateLimit-Policy": policy_header(decision.tier),
        "RateLimit": f'"{closest.name}";r={closest.remaining};t={closest.reset}',
    }
    if not decision.allowed:
        headers["Retry-After"] = str(max(decision.retry_after, closest.reset, 1))
    return headers


@functools.cache
def policy_header(tier: tuple[tuple[str, int, int], ...]) -> str:
    """`"burst";q=10;w=60, "hourly";q=50;w=3600`: rendered once per tier."""
    return ", ".join(f'"{name}";q={limit};w={window}' for name, limit, window in tier)


def rate_limited(decision: Decision, headers: dict[str, str]) -> RateLimited:
    """The 429 of a denied decision, in words."""
    closest = decision.closest
    window = f" ({closest.limit} requests per {_span(closest.window)})" if closest else ""
    wait = decision.retry_after or (closest.reset if closest else 1)
    return RateLimited(f"Too many requests{window}; try again in {_span(wait)}.", headers=headers)


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 7200:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


async def rate_limit_status(request: Request) -> Response:
    """GET /api/rate-limit-status: the caller's limits, without consuming anything."""
    running = services(request)
    limiter, settings = running.admission.limiter, running.settings
    session = await caller(request.scope, running)
    who = identity(request.scope, session, running)
    decision = await limiter.peek(who, premium=has_premium(session))
    hourly = decision.policy("hourly")
    limit = hourly.limit if hourly else settings.rate_limit_requests
    remaining = hourly.remaining if hourly else limit
    reset = hourly.full_reset if hourly else 0
    degraded = decision.reason == "degraded"  # decided in memory, a configured Redis away
    return JSON(
        RateLimitStatus(
            requests_used=limit - remaining,
            requests_remaining=remaining,
            total_limit=limit,
            window_hours=settings.rate_limit_window_hours,
            minutes_until_reset=-(-reset // 60),
            reset_in_seconds=reset,
            using_redis=limiter.using_redis and not degraded,
            enabled=limiter.enabled,
            policies=[
                PolicyStatus(p.name, p.limit, p.window, p.remaining, p.full_reset)
                for p in decision.policies
            ],
            degraded=degraded,
        )
    )


async def usage_status(request: Request) -> Response:
    """GET /api/usage/status: the caller's free-tier usage, and premium."""
    running = services(request)
    return JSON(await usage_of(request.scope, await caller(request.scope, running), running))


async def usage_of(scope: Scope, session: Session | None, running: Services) -> UsageStatus:
    """The usage status of the caller: the account's when signed in, else the address's."""
    usage = await running.quota.status(
        identity(scope, session, running), premium=has_premium(session)
    )
    expires = premium_expires_at(session)
    return usage if expires is None else msgspec.structs.replace(usage, premium_expires_at=expires)
