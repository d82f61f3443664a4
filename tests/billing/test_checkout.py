"""Checkout Sessions through the official async StripeClient over a fake Stripe: what the
session carries (the account in client_reference_id and every metadata), redirects only to our
own origins, one-off price or STRIPE_PRICE_ID's mode, and every Stripe failure a 502."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import stripe

from tests.billing.stripe_fake import SESSION_URL, FakeStripe, stripe_error
from tests.factories import make_settings
from threadr.billing.checkout import Checkout, CheckoutSession, redirect_url
from threadr.errors import PaymentProviderFailed, ServiceUnavailable, ValidationFailed

APP = "https://app.threadr.test"
USER = "0123456789abcdef01234567"
SESSIONS = "/v1/checkout/sessions"


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
async def client(fake: FakeStripe) -> AsyncIterator[stripe.StripeClient]:
    async with fake.client() as made:
        yield made


def checkout(client: stripe.StripeClient | None, **env: str) -> Checkout:
    return Checkout(client, make_settings(**({"CORS_ORIGINS": f"{APP},*"} | env)))


async def test_a_one_off_session_carries_the_account_everywhere(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    created = await checkout(client).create(USER, "ann@example.com")
    assert created == CheckoutSession(url=SESSION_URL, id="cs_test_a1")
    (form,) = fake.forms(SESSIONS)
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == USER
    assert form["metadata[user_id]"] == USER
    assert form["payment_intent_data[metadata][user_id]"] == USER
    assert "subscription_data[metadata][user_id]" not in form
    assert form["customer_email"] == "ann@example.com"
    assert form["line_items[0][price_data][unit_amount]"] == "499"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][quantity]"] == "1"
    # The defaults: pages of the first origin ("*" names no site and is skipped).
    assert form["success_url"] == f"{APP}/?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    assert form["cancel_url"] == f"{APP}/?checkout=cancelled"
    (request,) = fake.requests
    assert request.headers["authorization"] == "Bearer sk_test_fake_0123456789"
    assert request.headers["idempotency-key"]  # the library's, for its retries


async def test_the_price_and_duration_come_from_the_settings(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    await checkout(client, PREMIUM_PRICE_USD="12.5", PREMIUM_DURATION_DAYS="90").create(
        USER, "ann@example.com"
    )
    (form,) = fake.forms(SESSIONS)
    assert form["line_items[0][price_data][unit_amount]"] == "1250"
    assert "90 days" in form["line_items[0][price_data][product_data][description]"]


@pytest.mark.parametrize(
    ("price_type", "mode", "metadata"),
    [
        ("recurring", "subscription", "subscription_data[metadata][user_id]"),
        ("one_time", "payment", "payment_intent_data[metadata][user_id]"),
    ],
)
async def test_a_configured_price_sets_the_mode_asked_of_stripe_once(
    price_type: str, mode: str, metadata: str
) -> None:
    fake = FakeStripe(price_type=price_type)
    async with fake.client() as client:
        paying = checkout(client, STRIPE_PRICE_ID="price_premium")
        await paying.create(USER, "ann@example.com")
        await paying.create(USER, "ann@example.com")
    forms = fake.forms(SESSIONS)
    assert [f["mode"] for f in forms] == [mode, mode]
    assert all(f[metadata] == USER and f["line_items[0][price]"] == "price_premium" for f in forms)
    assert all("line_items[0][price_data][unit_amount]" not in f for f in forms)
    assert [r.url.path for r in fake.requests].count("/v1/prices/price_premium") == 1


async def test_redirects_on_our_origins_are_passed_on(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    success = f"{APP}/paid?session={{CHECKOUT_SESSION_ID}}"
    await checkout(client).create(
        USER, "ann@example.com", success_url=success, cancel_url=f"{APP.upper()}/pricing"
    )
    (form,) = fake.forms(SESSIONS)
    assert (form["success_url"], form["cancel_url"]) == (success, f"{APP.upper()}/pricing")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/phish",
        "https://app.threadr.test.evil.test/",  # our host as a prefix of theirs
        "https://app.threadr.test@evil.test/",  # our host as credentials
        "https://evil.test\\@app.threadr.test/",  # a backslash browsers read as a slash
        "http://app.threadr.test/",  # another scheme is another origin
        "https://app.threadr.test:8443/",  # so is another port
        "//evil.test/",  # scheme-relative
        "/relative/path",
        "javascript:alert(1)",
        "https://app.threadr.test/\nLocation: https://evil.test",
        "https://app.threadr.test:99999/",
        "https://app.threadr.test/" + "a" * 2100,
    ],
)
async def test_a_redirect_off_our_origins_is_refused_before_stripe_is_asked(
    url: str, fake: FakeStripe, client: stripe.StripeClient
) -> None:
    for field in ("success_url", "cancel_url"):
        with pytest.raises(ValidationFailed) as refused:
            await checkout(client).create(USER, "ann@example.com", **{field: url})
        assert refused.value.code == "redirect_not_allowed"
        assert f"`{field}`" in refused.value.detail and APP in refused.value.detail
    assert fake.requests == []


def test_without_origins_a_redirect_must_be_sent_and_none_is_allowed() -> None:
    with pytest.raises(ValidationFailed) as missing:
        redirect_url(None, "success_url", (), "/?checkout=success")
    assert missing.value.code == "redirect_url_required"
    assert "CORS_ORIGINS" in missing.value.detail
    with pytest.raises(ValidationFailed) as wildcard:  # "*" is any site, not one of ours
        redirect_url(None, "cancel_url", ("*",), "/")
    assert wildcard.value.code == "redirect_url_required"
    with pytest.raises(ValidationFailed) as refused:
        redirect_url("https://evil.test/", "success_url", ("*",), "/")
    assert refused.value.code == "redirect_not_allowed"


async def test_without_a_client_checkout_is_not_configured() -> None:
    with pytest.raises(ServiceUnavailable) as off:
        await checkout(None).create(USER, "ann@example.com")
    assert (off.value.status, off.value.code) == (503, "payments_not_configured")


@pytest.mark.parametrize(
    "reply",
    [
        stripe_error(400),
        stripe_error(401, "authentication_error"),
        stripe_error(500, "api_error"),
        (200, {"id": "cs_test_a1", "object": "checkout.session", "url": None}),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
    ],
    ids=["invalid", "bad-key", "stripe-down", "no-url", "unreachable", "timeout"],
)
async def test_every_stripe_failure_is_a_502_in_words(
    reply: object, fake: FakeStripe, client: stripe.StripeClient
) -> None:
    fake.replies[SESSIONS] = reply  # type: ignore[assignment]
    with pytest.raises(PaymentProviderFailed) as failed:
        await checkout(client).create(USER, "ann@example.com")
    assert (failed.value.status, failed.value.code) == (502, "payment_provider_error")
    assert failed.value.detail.endswith(".") and "sk_test" not in failed.value.detail


async def test_a_stripe_that_never_answers_is_cut_off_by_the_deadline(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> tuple[int, dict[str, object]]:
        await never.wait()
        raise AssertionError("unreachable")

    fake.replies[SESSIONS] = hang
    paying = Checkout(client, make_settings(CORS_ORIGINS=APP), deadline=0.05)
    with pytest.raises(PaymentProviderFailed) as failed:
        await paying.create(USER, "ann@example.com")
    assert (failed.value.status, failed.value.code) == (502, "payment_provider_timeout")
