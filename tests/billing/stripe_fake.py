"""A Stripe API in-process (an httpx.MockTransport under the official library's StripeClient),
and Stripe's side of a webhook: events, and signatures made the way Stripe makes them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import stripe

from threadr.billing.client import create_stripe_client

SECRET = "whsec_test_0123456789abcdef"  # a webhook signing secret
API_KEY = "sk_test_fake_0123456789"
SESSION_URL = "https://checkout.stripe.com/c/pay/cs_test_a1"

Reply = tuple[int, dict[str, Any]] | BaseException | Callable[[httpx.Request], Any]


class FakeStripe:
    """Answers POST /v1/checkout/sessions and GET /v1/prices/{id} like Stripe; records every
    request. `replies[path]` overrides an answer: a (status, body), an exception to raise,
    or an async callable of the request."""

    def __init__(self, *, price_type: str = "one_time") -> None:
        self.price_type = price_type
        self.requests: list[httpx.Request] = []
        self.replies: dict[str, Reply] = {}

    def forms(self, path: str) -> list[dict[str, str]]:
        """The form bodies sent to `path`, flattened as Stripe encodes them
        (`metadata[user_id]`, `line_items[0][quantity]` …)."""
        return [
            dict(parse_qsl(r.content.decode(), keep_blank_values=True))
            for r in self.requests
            if r.url.path == path
        ]

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = urlsplit(str(request.url)).path
        reply = self.replies.get(path)
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            reply = await reply(request)
        if reply is None:
            reply = self._default(request, path)
        status, body = reply
        return httpx.Response(status, json=body, headers={"request-id": "req_fake"})

    def _default(self, request: httpx.Request, path: str) -> tuple[int, dict[str, Any]]:
        if request.method == "POST" and path == "/v1/checkout/sessions":
            return 200, {"id": "cs_test_a1", "object": "checkout.session", "url": SESSION_URL}
        if request.method == "GET" and path.startswith("/v1/prices/"):
            price = path.rsplit("/", 1)[1]
            return 200, {"id": price, "object": "price", "type": self.price_type}
        return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized URL"}}

    @asynccontextmanager
    async def client(self) -> AsyncIterator[stripe.StripeClient]:
        """A StripeClient talking to this fake (no retries: a test sees each answer once)."""
        client, http = create_stripe_client(
            API_KEY, transport=httpx.MockTransport(self.handler), max_network_retries=0
        )
        try:
            yield client
        finally:
            await http.close_async()


def stripe_error(status: int, kind: str = "invalid_request_error") -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": kind, "message": "No such price: 'price_x'"}}


def sign(payload: bytes, *, secret: str = SECRET, at: float | None = None) -> str:
    """A Stripe-Signature header: `t=<unix time>,v1=<HMAC-SHA256 of "<t>.<payload>">`."""
    t = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(kind: str, obj: dict[str, Any], *, event_id: str = "evt_test_1") -> bytes:
    """An event's JSON body as Stripe sends it."""
    body = {
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def checkout_completed(
    user_id: str | None,
    *,
    session_id: str = "cs_test_a1",
    status: str = "paid",
    email: str | None = "ann@example.com",
    payment_intent: str | None = "pi_test_1",
    mode: str = "payment",
) -> dict[str, Any]:
    """A Checkout Session object, as our checkout made it (`user_id` in its metadata). In
    subscription mode it names the subscription and its first invoice, not a payment intent."""
    body: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "mode": mode,
        "payment_status": status,
        "status": "complete",
        "client_reference_id": user_id,
        "customer_details": {"email": email, "name": "Ann"},
        "metadata": {"user_id": user_id} if user_id else {},
        "amount_total": 499,
        "currency": "usd",
        "payment_intent": payment_intent if mode == "payment" else None,
        "invoice": None,
        "subscription": None,
    }
    if mode == "subscription":
        body |= {"invoice": "in_test_first", "subscription": "sub_test_1"}
    return body


DAY = 86_400


def invoice(
    user_id: str | None,
    *,
    invoice_id: str = "in_test_1",
    reason: str = "subscription_cycle",
    email: str | None = "ann@example.com",
    legacy: bool = False,
    subscription: str = "sub_test_1",
    period: tuple[int, int] | None = None,
    payment_intent: str | None = None,
) -> dict[str, Any]:
    """An invoice of `subscription`, whose metadata carries `user_id`: under `parent` (API
    versions since 2025-03-31), or `subscription_details` and a top-level `subscription`
    (`legacy`, before — with `payment_intent` too). Its line pays for `period` (epoch s;
    by default 31 days from now)."""
    start = int(time.time())
    start, end = period or (start, start + 31 * DAY)
    details: dict[str, Any] = {"metadata": {"user_id": user_id} if user_id else {}}
    line = {
        "id": "il_test_1",
        "object": "line_item",
        "amount": 499,
        "period": {"start": start, "end": end},
    }
    body: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "billing_reason": reason,
        "customer_email": email,
        "status": "paid",
        "metadata": {},
        "period_start": start,
        "period_end": start,
        "lines": {"object": "list", "data": [line], "has_more": False},
    }
    if legacy:
        body |= {
            "subscription_details": details,
            "subscription": subscription,
            "payment_intent": payment_intent,
        }
    else:
        details["subscription"] = subscription
        body["parent"] = {"type": "subscription_details", "subscription_details": details}
    return body


def charge(
    charge_id: str = "ch_test_1",
    *,
    payment_intent: str | None = "pi_test_1",
    invoice_id: str | None = None,
    refunded: bool = True,
    email: str | None = "ann@example.com",
) -> dict[str, Any]:
    """A charge of `payment_intent` (before API version 2025-03-31, of `invoice_id` too),
    refunded in full or in part; its billing email is whatever the payer typed."""
    return {
        "id": charge_id,
        "object": "charge",
        "amount": 499,
        "amount_refunded": 499 if refunded else 100,
        "refunded": refunded,
        "payment_intent": payment_intent,
        "invoice": invoice_id,
        "billing_details": {"email": email},
        "receipt_email": email,
        "metadata": {},
    }


def subscription(subscription_id: str = "sub_test_1", user_id: str | None = None) -> dict[str, Any]:
    return {
        "id": subscription_id,
        "object": "subscription",
        "status": "canceled",
        "metadata": {"user_id": user_id} if user_id else {},
    }
