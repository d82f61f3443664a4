"""Premium: GET /api/premium/check (anyone) and POST /api/premium/grant (admin)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from threadr.accounts.premium import reference_of
from threadr.subscribers.address import normalise

from .admin import require_admin
from .auth import caller, has_premium, iso_ms, premium_expires_at
from .bodies import decode_body, read_body
from .context import services
from .limits import usage_of
from .responses import JSON
from .schemas import PremiumCheck, PremiumGranted, PremiumGrantRequest

_decode_grant = msgspec.json.Decoder(PremiumGrantRequest)


async def premium_check(request: Request) -> Response:
    """GET /api/premium/check: the caller's premium, usage, and whether they must pay to go on."""
    running = services(request)
    session = await caller(request.scope, running)
    usage = await usage_of(request.scope, session, running)
    premium = has_premium(session)
    used_up = usage.free_tier_enabled and (
        usage.daily_remaining == 0 or usage.monthly_remaining == 0
    )
    price = running.settings.premium_price_usd
    if premium:
        message = f"Premium is active until {premium_expires_at(session)}."
    elif used_up:
        message = f"You have used your free threads; premium is ${price:.2f} for unlimited ones."
    else:
        message = f"{usage.daily_remaining} free threads left today."
    return JSON(
        PremiumCheck(
            has_premium=premium,
            premium_expires_at=premium_expires_at(session),
            usage_status=usage,
            needs_payment=not premium and used_up,
            premium_price=price,
            message=message,
        )
    )


async def grant_premium(request: Request) -> Response:
    """POST /api/premium/grant `{email, duration_days, reference}` (admin): extends the email's
    account's premium (or the email's, claimed when its account signs up or in), once per
    reference."""
    await require_admin(request)
    running = services(request)
    body = await read_body(request.scope, request.receive, running.settings.max_body_bytes)
    wanted = decode_body(body, _decode_grant)
    email, reference = normalise(wanted.email), reference_of(wanted.reference)
    account = await running.auth.accounts.find(email)
    grant = await running.auth.grant_by_email(
        email, wanted.duration_days, reference, "admin", account=account
    )
    if grant.applied:
        running.analytics.premium_grant()
    return JSON(
        PremiumGranted(
            expires_at=iso_ms(grant.until),
            applied=grant.applied,
            holder="account" if account else "email",
        )
    )
