"""The payment endpoints over HTTP (fakeredis, a fake Stripe behind the `stripe_client` seam):
config, checkout for a signed-in caller (401, 503, 422, 502 — never a 500), and the webhook
(closed, signed, refused, capped), whose grant the caller's next request sees."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import fakeredis
import httpx
import pytest
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.billing.stripe_fake import (
    SECRET,
    SESSION_URL,
    FakeStripe,
    checkout_completed,
    event,
    sign,
    stripe_error,
)
from tests.factories import account_settings, bearer, running_services, sign_up
from threadr.services import Services

APP = "https://app.threadr.test"
CHECKOUT = "/api/stripe/create-checkout-session"
WEBHOOK = "/api/webhooks/stripe"
PAYING = {"STRIPE_SECRET_KEY": "sk_test_fake_0123456789", "STRIPE_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def redis() -> FakeRedis:
    return FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def stripe_fake() -> FakeStripe:
    return FakeStripe()


class App:
    def __init__(self, client: httpx.AsyncClient, running: Services) -> None:
        self.client, self.running = client, running

    async def webhook(self, payload: bytes, signature: str | None = None) -> httpx.Response:
        headers = {"content-type": "application/json; charset=utf-8"}
        headers["stripe-signature"] = sign(payload) if signature is None else signature
        return await self.client.post(WEBHOOK, content=payload, headers=headers)


@pytest.fixture
async def paying(redis: FakeRedis, stripe_fake: FakeStripe) -> AsyncIterator[App]:
    async with (
        stripe_fake.client() as stripe_client,
        running_services(
            account_settings(CORS_ORIGINS=APP, **PAYING), redis=redis, stripe_client=stripe_client
        ) as (client, running),
    ):
        yield App(client, running)


@pytest.fixture
async def unpaid(redis: FakeRedis) -> AsyncIterator[App]:
    async with running_services(account_settings(CORS_ORIGINS=APP), redis=redis) as (c, r):
        yield App(c, r)


# GET /api/payment/config ------------------------------------------------------------------


async def test_the_config_says_whether_and_how_to_pay(paying: App, unpaid: App) -> None:
    on = await paying.client.get("/api/payment/config")
    off = await unpaid.client.get("/api/payment/config")
    assert on.json() == {
        "stripe_configured": True,
        "premium_price": 4.99,
        "currency": "usd",
        "payment_url": CHECKOUT,
        "premium_duration_days": 30,
    }
    assert off.status_code == 200
    assert (off.json()["stripe_configured"], off.json()["payment_url"]) == (False, None)


# POST /api/stripe/create-checkout-session -------------------------------------------------


async def test_a_signed_in_caller_gets_a_checkout_for_their_account(
    paying: App, stripe_fake: FakeStripe
) -> None:
    ann = await sign_up(paying.client, "ann@example.com")
    response = await paying.client.post(CHECKOUT, headers=bearer(ann["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json() == {"checkout_url": SESSION_URL, "session_id": "cs_test_a1"}
    (form,) = stripe_fake.forms("/v1/checkout/sessions")
    user_id = ann["user"]["user_id"]
    assert form["client_reference_id"] == form["metadata[user_id]"] == user_id
    assert form["payment_intent_data[metadata][user_id]"] == user_id
    assert form["customer_email"] == "ann@example.com"
    assert form["success_url"].startswith(f"{APP}/?checkout=success")


async def test_checkout_needs_a_session(paying: App, stripe_fake: FakeStripe) -> None:
    response = await paying.client.post(CHECKOUT, json={})
    assert (response.status_code, response.json()["code"]) == (401, "not_signed_in")
    assert stripe_fake.requests == []


async def test_checkout_without_a_stripe_key_is_a_503(unpaid: App) -> None:
    ann = await sign_up(unpaid.client, "ann@example.com")
    response = await unpaid.client.post(CHECKOUT, json={}, headers=bearer(ann["access_token"]))
    assert (response.status_code, response.json()["code"]) == (503, "payments_not_configured")
    assert "STRIPE_SECRET_KEY" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"success_url": "https://evil.test/"}, "redirect_not_allowed"),
        ({"cancel_url": "https://app.threadr.test.evil.test/"}, "redirect_not_allowed"),
        ({"success_url": f"{APP}/ok", "next": "https://evil.test"}, "validation_error"),
    ],
)
async def test_a_redirect_off_our_origins_is_a_422(
    paying: App, stripe_fake: FakeStripe, body: dict[str, str], code: str
) -> None:
    ann = await sign_up(paying.client, "ann@example.com")
    response = await paying.client.post(CHECKOUT, json=body, headers=bearer(ann["access_token"]))
    assert (response.status_code, response.json()["code"]) == (422, code)
    assert stripe_fake.requests == []


async def test_without_origins_the_redirects_must_be_sent(
    redis: FakeRedis, stripe_fake: FakeStripe
) -> None:
    async with (
        stripe_fake.client() as stripe_client,
        running_services(account_settings(**PAYING), redis=redis, stripe_client=stripe_client) as (
            client,
            _,
        ),
    ):
        ann = await sign_up(client, "ann@example.com")
        response = await client.post(CHECKOUT, json={}, headers=bearer(ann["access_token"]))
    assert (response.status_code, response.json()["code"]) == (422, "redirect_url_required")
    assert "CORS_ORIGINS" in response.json()["detail"]


async def test_a_stripe_error_is_a_502_never_a_500(paying: App, stripe_fake: FakeStripe) -> None:
    stripe_fake.replies["/v1/checkout/sessions"] = stripe_error(400)
    ann = await sign_up(paying.client, "ann@example.com")
    response = await paying.client.post(
        CHECKOUT, json={"success_url": f"{APP}/thanks"}, headers=bearer(ann["access_token"])
    )
    assert (response.status_code, response.json()["code"]) == (502, "payment_provider_error")
    assert "price_x" not in response.text  # Stripe's own words stay in our log


async def test_the_stripe_client_is_built_from_the_settings(redis: FakeRedis) -> None:
    """Without the seam, STRIPE_SECRET_KEY builds the client (integration/test_stripe.py
    drives it over HTTP through STRIPE_API_BASE); without the key there is none."""
    async with running_services(account_settings(**PAYING), redis=redis) as (_, running):
        assert running.billing is not None and running.billing.checkout.configured
        assert running.billing.checkout.client is not None


# POST /api/webhooks/stripe ----------------------------------------------------------------


async def test_a_signed_payment_makes_the_caller_premium_once(
    paying: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[int] = []
    monkeypatch.setattr(paying.running.analytics, "premium_grant", lambda: counted.append(1))
    ann = await sign_up(paying.client, "ann@example.com")
    payload = event("checkout.session.completed", checkout_completed(ann["user"]["user_id"]))

    first = await paying.webhook(payload)
    again = await paying.webhook(payload)
    me = await paying.client.get("/api/auth/me", headers=bearer(ann["access_token"]))

    assert first.status_code == 200 and first.json() == {
        "received": True,
        "event_id": "evt_test_1",
        "outcome": "premium_granted",
        "duplicate": False,
    }
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert me.json()["is_premium"] is True
    assert counted == [1]


async def test_a_payment_before_sign_up_is_claimed_by_the_new_account(paying: App) -> None:
    payload = event("checkout.session.completed", checkout_completed(None, email="new@example.com"))
    assert (await paying.webhook(payload)).status_code == 200
    new = await sign_up(paying.client, "New@Example.com")
    me = await paying.client.get("/api/auth/me", headers=bearer(new["access_token"]))
    assert me.json()["is_premium"] is True


async def test_a_tampered_webhook_is_a_400(paying: App) -> None:
    payload = event("checkout.session.completed", checkout_completed("0" * 24))
    response = await paying.webhook(payload.replace(b"paid", b"PAID"), sign(payload))
    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")


async def test_a_non_ascii_signature_is_a_400_not_a_500(paying: App) -> None:
    payload = event("checkout.session.completed", checkout_completed("0" * 24))
    header = f"t={int(time.time())},v1=".encode() + b"\xe9\xe9"  # latin-1 on the wire
    response = await paying.client.post(
        WEBHOOK,
        content=payload,
        headers={b"content-type": b"application/json", b"stripe-signature": header},
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")
    assert "compar" not in response.text  # no exception text


async def test_an_unknown_event_is_a_200(paying: App) -> None:
    response = await paying.webhook(event("payout.paid", {"id": "po_1"}))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"


async def test_the_webhook_is_closed_without_its_secret(redis: FakeRedis) -> None:
    env = {"STRIPE_SECRET_KEY": "sk_test_x", "CORS_ORIGINS": APP}
    async with running_services(account_settings(**env), redis=redis) as (client, _):
        payload = event("checkout.session.completed", checkout_completed("0" * 24))
        response = await client.post(
            WEBHOOK, content=payload, headers={"stripe-signature": sign(payload)}
        )
    assert (response.status_code, response.json()["code"]) == (503, "payments_not_configured")
    assert "STRIPE_WEBHOOK_SECRET" in response.json()["detail"]


async def test_a_webhook_body_over_a_mebibyte_is_a_413(paying: App) -> None:
    payload = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = await paying.webhook(payload)
    assert response.status_code == 413


async def test_a_webhook_body_that_is_not_json_is_a_415(paying: App) -> None:
    payload = event("payout.paid", {"id": "po_1"})
    response = await paying.client.post(
        WEBHOOK,
        content=payload,
        headers={"content-type": "text/plain", "stripe-signature": sign(payload)},
    )
    assert response.status_code == 415
