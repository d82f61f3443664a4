"""Payments (Stripe): GET /api/payment/config, POST /api/stripe/create-checkout-session (signed
in) and POST /api/webhooks/stripe (Stripe's, signed)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from threadr.billing.checkout import CURRENCY, not_configured
from threadr.billing.webhooks import MAX_PAYLOAD
from threadr.billing.webhooks import not_configured as webhooks_closed

from .auth import signed_in
from .bodies import decode_body, read_body
from .context import services
from .responses import JSON
from .schemas import CheckoutCreated, CheckoutRequest, PaymentConfig, WebhookReceived

CHECKOUT_PATH = "/api/stripe/create-checkout-session"
_decode_checkout = msgspec.json.Decoder(CheckoutRequest)


async def payment_config(request: Request) -> Response:
    """GET /api/payment/config: whether checkout is open, at what price, and where to start it."""
    running = services(request)
    configured = running.billing is not None and running.billing.checkout.configured
    return JSON(
        PaymentConfig(
            stripe_configured=configured,
            premium_price=running.settings.premium_price_usd,
            currency=CURRENCY,
            payment_url=CHECKOUT_PATH if configured else None,
            premium_duration_days=running.settings.premium_duration_days,
        )
    )


async def create_checkout_session(request: Request) -> Response:
    """POST /api/stripe/create-checkout-session `{success_url?, cancel_url?}` (signed in): a
    Stripe Checkout Session for premium, paid by the caller's account."""
    session = await signed_in(request)
    running = services(request)
    checkout = running.billing.checkout if running.billing else None
    if checkout is None or not checkout.configured:
        raise not_configured()
    wanted = CheckoutRequest()  # no body at all: the default redirects
    sent = request.headers
    if (
        "content-type" in sent
        or "transfer-encoding" in sent
        or sent.get("content-length", "0") != "0"
    ):
        body = await read_body(request.scope, request.receive, running.settings.max_body_bytes)
        wanted = decode_body(body, _decode_checkout)
    created = await checkout.create(
        session.user_id,
        session.email,
        success_url=wanted.success_url,
        cancel_url=wanted.cancel_url,
    )
    return JSON(CheckoutCreated(checkout_url=created.url, session_id=created.id))


async def stripe_webhook(request: Request) -> Response:
    """POST /api/webhooks/stripe: one Stripe event, verified by its Stripe-Signature header."""
    running = services(request)
    webhooks = running.billing.webhooks if running.billing else None
    if webhooks is None or not webhooks.configured:
        raise webhooks_closed()  # before reading a byte
    # The raw bytes: the signature covers them exactly as sent. Capped at 1 MiB, not at
    # MAX_BODY_BYTES: Stripe's events are not ours to size.
    payload = await read_body(request.scope, request.receive, MAX_PAYLOAD)
    receipt = await webhooks.receive(payload, request.headers.get("stripe-signature"))
    if receipt.granted:
        running.analytics.premium_grant()
    return JSON(
        WebhookReceived(
            event_id=receipt.event_id, outcome=receipt.outcome, duplicate=receipt.duplicate
        )
    )
