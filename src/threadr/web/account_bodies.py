"""The bodies of the account endpoints (issue #11): sign-up and sign-in, sessions, premium,
saved threads and Stripe payments — re-exported by schemas.py, the one list of every body."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from threadr.limits.quota import UsageStatus
from threadr.source import SourceType
from threadr.writing.thread import Generator, Tweet

from .formats import Email


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/auth/register and POST /api/auth/login."""

    email: Email
    password: str


class UserProfile(msgspec.Struct, kw_only=True):
    """The account as its owner sees it."""

    user_id: str
    email: str
    created_at: str  # ISO 8601, UTC
    is_premium: bool
    premium_expires_at: str | None = None


class TokenResponse(msgspec.Struct, kw_only=True):
    """POST /api/auth/register (201) and POST /api/auth/login (200): the session token, shown
    once; send it as `Authorization: Bearer <access_token>`."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme, not a secret)
    expires_in: int  # seconds of inactivity after which the session ends (it slides with use)
    user: UserProfile


class Me(msgspec.Struct, kw_only=True):
    """GET /api/auth/me."""

    user_id: str
    email: str
    created_at: str
    is_premium: bool
    premium_expires_at: str | None = None
    usage: UsageStatus


class SessionInfo(msgspec.Struct, kw_only=True):
    """One of the caller's sessions (GET /api/auth/sessions); `id` is for DELETE, and is not
    the token."""

    id: str
    created_at: str
    last_seen: str
    ip: str
    user_agent: str
    current: bool


class SessionList(msgspec.Struct, kw_only=True):
    sessions: list[SessionInfo]


class PremiumCheck(msgspec.Struct, kw_only=True):
    """GET /api/premium/check."""

    has_premium: bool
    premium_expires_at: str | None = None
    usage_status: UsageStatus
    needs_payment: bool
    premium_price: float
    message: str


class PremiumGrantRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/premium/grant (admin). `reference` is the grant's idempotency key:
    the same reference again changes nothing (a retried call is safe)."""

    email: Email
    duration_days: Annotated[int, msgspec.Meta(ge=1, le=366)]
    reference: str


class PremiumGranted(msgspec.Struct, kw_only=True):
    """POST /api/premium/grant: the holder's new expiry; `applied` is false for a reference
    that had been applied before."""

    success: bool = True
    expires_at: str
    applied: bool
    holder: Literal["account", "email"]


class SavedThreadSummary(msgspec.Struct, kw_only=True):
    """One saved thread of GET /api/threads: its first tweet as `preview`, the whole thread
    at GET /api/threads/{id}."""

    id: str
    saved_at: str  # ISO 8601, UTC
    source_type: SourceType
    url: str | None  # the normalised URL of a "url" thread; null for pasted text
    title: str | None
    generator: Generator
    tweet_count: int
    preview: str


class SavedThreadList(msgspec.Struct, kw_only=True):
    """GET /api/threads: newest first; `next_cursor` (null on the last page) fetches the next."""

    threads: list[SavedThreadSummary]
    next_cursor: str | None


class SavedThreadDetail(msgspec.Struct, kw_only=True):
    """GET /api/threads/{id}: a saved thread, its tweets as POST /api/generate sent them."""

    id: str
    saved_at: str  # ISO 8601, UTC
    source_type: SourceType
    url: str | None
    title: str | None
    generator: Generator
    thread: list[Tweet]


class PaymentConfig(msgspec.Struct, kw_only=True):
    """GET /api/payment/config: `payment_url` is the endpoint that starts a checkout (null
    while payments are not set up)."""

    stripe_configured: bool
    premium_price: float
    currency: str  # ISO 4217, lower case, as Stripe writes it
    payment_url: str | None
    premium_duration_days: int


class CheckoutRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/stripe/create-checkout-session (optional): where Stripe sends the
    buyer back, each a page on one of CORS_ORIGINS; defaults on the first of them."""

    success_url: str | None = None
    cancel_url: str | None = None


class CheckoutCreated(msgspec.Struct, kw_only=True):
    """POST /api/stripe/create-checkout-session: send the buyer to `checkout_url`."""

    checkout_url: str
    session_id: str


class WebhookReceived(msgspec.Struct, kw_only=True):
    """POST /api/webhooks/stripe: what the event did (`outcome`, docs/api.md); `duplicate`
    when the event had been handled before (and nothing was done again)."""

    received: bool = True
    event_id: str
    outcome: str
    duplicate: bool = False
