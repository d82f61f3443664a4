"""The webhook on fakeredis: the library's signature check (good, tampered, stale, missing, or
one it cannot check), each event id handled once (and each payment granted once even without its
journal record), what each paying event grants — one-off days, or the period a subscription's
invoice pays for — whose premium it is, and a 503 that leaves nothing half done. Refunds and
cancellations: test_revocations.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.billing.rig import ANN, BOB, DAYS_MS, Rig, built, paid
from tests.billing.stripe_fake import DAY, checkout_completed, event, invoice, sign
from tests.factories import BrokenRedis, redis_ms
from threadr.accounts.premium import DAY_MS, account_holder, email_holder
from threadr.accounts.users import Account
from threadr.billing.journal import EVENT_TTL_SECONDS, event_key
from threadr.billing.webhooks import MAX_PAYLOAD, Receipt
from threadr.errors import BadRequest, ServiceUnavailable
from threadr.storage.gateway import UNAVAILABLE
from threadr.storage.keys import STRIPE_EVENT_PREFIX, premium_key

# Signatures -------------------------------------------------------------------------------


async def test_a_signed_paid_checkout_grants_the_account_its_days(rig: Rig) -> None:
    receipt = await rig.deliver(paid())
    now = await redis_ms(rig.redis)
    assert receipt == Receipt("evt_paid", "premium_granted", applied=True, granted=True)
    until = await rig.until(account_holder(ANN))
    assert until is not None and now + DAYS_MS - 5_000 <= until <= now + DAYS_MS
    assert await rig.grants(account_holder(ANN)) == [b"g:stripe:cs_test_a1"]
    ttl = await rig.redis.ttl(f"{STRIPE_EVENT_PREFIX}evt_paid")
    assert EVENT_TTL_SECONDS - 5 <= ttl <= EVENT_TTL_SECONDS  # 30 days, past Stripe's 3


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda p: sign(p + b" "), id="tampered-body"),
        pytest.param(lambda p: sign(p, at=time.time() - 301), id="stale"),
        pytest.param(lambda p: sign(p, secret="whsec_someone_else"), id="wrong-secret"),
        pytest.param(lambda p: "", id="missing"),
        pytest.param(lambda p: "t=now,v1=zz", id="garbled"),
        pytest.param(lambda p: sign(p).replace("v1=", "v0="), id="other-scheme"),
    ],
)
async def test_a_bad_or_stale_signature_is_a_400_and_changes_nothing(rig: Rig, header: Any) -> None:
    payload = paid()
    with pytest.raises(BadRequest) as refused:
        await rig.billing.webhooks.receive(payload, header(payload) or None)
    assert (refused.value.status, refused.value.code) == (400, "invalid_signature")
    assert await rig.redis.keys("*") == []


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda p: f"t={int(time.time())},v1=\xe9\xe9", id="latin-1"),
        pytest.param(lambda p: sign(p) + "\u2603", id="non-ascii-after-a-good-one"),
        pytest.param(lambda p: f"t={int(time.time())},v1=\udcff", id="surrogate"),
        pytest.param(lambda p: "t=\u0661\u0662,v1=00", id="arabic-digits"),
    ],
)
async def test_a_signature_the_library_cannot_check_is_a_400_not_a_500(
    rig: Rig, header: Any
) -> None:
    """hmac.compare_digest raises TypeError for non-ASCII text: that is a bad signature."""
    payload = paid()
    with pytest.raises(BadRequest) as refused:
        await rig.billing.webhooks.receive(payload, header(payload))
    assert (refused.value.status, refused.value.code) == (400, "invalid_signature")
    assert await rig.redis.keys("*") == []


async def test_a_library_failure_while_verifying_is_a_400(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("something the library did not expect")

    monkeypatch.setattr(stripe.WebhookSignature, "verify_header", broken)
    with pytest.raises(BadRequest) as refused:
        await rig.deliver(paid())
    assert refused.value.code == "invalid_signature"


async def test_a_tampered_body_under_a_copied_signature_is_refused(rig: Rig) -> None:
    original = paid(user_id=ANN)
    forged = original.replace(ANN.encode(), BOB.encode())
    with pytest.raises(BadRequest):
        await rig.deliver(forged, sign(original))
    assert await rig.until(account_holder(BOB)) is None


async def test_a_signature_within_the_default_tolerance_is_accepted(rig: Rig) -> None:
    payload = paid()
    receipt = await rig.deliver(payload, sign(payload, at=time.time() - 240))
    assert receipt.applied


async def test_a_body_that_is_not_utf8_is_refused_as_unsigned(rig: Rig) -> None:
    payload = b"\xff\xfe" + paid()
    with pytest.raises(BadRequest) as refused:
        await rig.deliver(payload)
    assert refused.value.code == "invalid_signature"


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'{"id": "evt_1", "type": "checkout.session.completed"}',
        event("checkout.session.completed", {"payment_status": "paid"}),  # no object id
        event("checkout.session.completed", checkout_completed(ANN), event_id="evt 1/../x"),
        event("charge.refunded", {"id": "ch_1", "refunded": "yes"}),
    ],
)
async def test_a_signed_body_that_is_no_stripe_event_is_a_400(rig: Rig, payload: bytes) -> None:
    with pytest.raises(BadRequest) as refused:
        await rig.deliver(payload)
    assert refused.value.code == "invalid_event"


async def test_without_a_secret_the_webhook_is_closed() -> None:
    async with built(FakeRedis(), STRIPE_WEBHOOK_SECRET="") as rig:
        assert not rig.billing.webhooks.configured
        with pytest.raises(ServiceUnavailable) as closed:
            await rig.deliver(paid())
    assert (closed.value.status, closed.value.code) == (503, "payments_not_configured")


# Once per event, once per payment ---------------------------------------------------------


async def test_the_same_event_again_is_answered_from_the_journal(rig: Rig) -> None:
    await rig.deliver(paid())
    first = await rig.until(account_holder(ANN))
    again = await rig.deliver(paid())
    assert again == Receipt("evt_paid", "premium_granted", duplicate=True)
    assert await rig.until(account_holder(ANN)) == first
    assert await rig.grants(account_holder(ANN)) == [b"g:stripe:cs_test_a1"]


async def test_without_its_journal_record_a_payment_is_still_granted_once(rig: Rig) -> None:
    await rig.deliver(paid())
    first = await rig.until(account_holder(ANN))
    await rig.redis.delete(event_key("evt_paid"))  # a failover lost it
    assert (await rig.deliver(paid())).outcome == "already_applied"
    # The same session under another event id (async_payment_succeeded after a completed).
    later = event("checkout.session.async_payment_succeeded", checkout_completed(ANN))
    assert (await rig.deliver(later)).outcome == "already_applied"
    assert await rig.until(account_holder(ANN)) == first


async def test_a_grant_that_cannot_be_recorded_is_a_503_and_its_retry_grants_once(
    rig: Rig,
) -> None:
    rig.redis.failing = {"EVALSHA", "EVAL"}  # the journal answers; the grant's script fails
    with pytest.raises(ServiceUnavailable) as down:
        await rig.deliver(paid())
    assert (down.value.status, down.value.code) == (503, "storage_unavailable")
    assert int(down.value.headers["Retry-After"]) >= 1
    assert await rig.redis.exists(event_key("evt_paid")) == 0  # not journalled: Stripe retries

    rig.heal()
    retried = await rig.deliver(paid())
    assert (retried.outcome, retried.applied) == ("premium_granted", True)
    assert (await rig.deliver(paid())).duplicate
    assert await rig.grants(account_holder(ANN)) == [b"g:stripe:cs_test_a1"]


async def test_without_redis_a_handled_event_is_a_503_with_retry_after() -> None:
    async with built(BrokenRedis()) as rig:
        with pytest.raises(ServiceUnavailable) as down:
            await rig.deliver(paid())
    assert down.value.code == "storage_unavailable" and "Retry-After" in down.value.headers


async def test_a_journal_write_lost_after_the_grant_still_answers_200(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(*args: Any) -> Any:
        return UNAVAILABLE

    monkeypatch.setattr(rig.billing.webhooks.journal.gateway, "set", unavailable)
    receipt = await rig.deliver(paid())
    assert receipt.applied and await rig.until(account_holder(ANN)) is not None


# What each event does ---------------------------------------------------------------------


async def test_an_unpaid_checkout_waits_for_its_async_payment(rig: Rig) -> None:
    unpaid = event("checkout.session.completed", checkout_completed(ANN, status="unpaid"))
    assert (await rig.deliver(unpaid)).outcome == "not_paid"
    assert await rig.until(account_holder(ANN)) is None
    succeeded = event(
        "checkout.session.async_payment_succeeded",
        checkout_completed(ANN),
        event_id="evt_async",
    )
    assert (await rig.deliver(succeeded)).outcome == "premium_granted"
    assert await rig.until(account_holder(ANN)) is not None


@pytest.mark.parametrize("legacy", [False, True], ids=["parent", "subscription_details"])
async def test_a_renewal_adds_the_period_its_invoice_pays_for(rig: Rig, legacy: bool) -> None:
    await rig.deliver(paid())
    first = await rig.until(account_holder(ANN))
    assert first is not None
    renewal = event("invoice.paid", invoice(ANN, legacy=legacy), event_id="evt_renewal")
    receipt = await rig.deliver(renewal)
    assert (receipt.outcome, receipt.granted) == ("premium_granted", True)
    assert await rig.until(account_holder(ANN)) == first + 31 * DAY_MS  # its line: 31 days


async def test_a_yearly_subscription_grants_the_year_each_invoice_pays_for(rig: Rig) -> None:
    """STRIPE_PRICE_ID a yearly price: its checkout completes in subscription mode, its
    invoices pay for a year each — never PREMIUM_DURATION_DAYS (30)."""
    started = event("checkout.session.completed", checkout_completed(ANN, mode="subscription"))
    assert (await rig.deliver(started)).outcome == "subscription_started"
    assert await rig.until(account_holder(ANN)) is None  # its first invoice grants
    now = int(time.time())
    first = invoice(
        ANN, invoice_id="in_y1", reason="subscription_create", period=(now, now + 365 * DAY)
    )
    assert (await rig.deliver(event("invoice.paid", first, event_id="evt_y1"))).granted
    granted = await rig.until(account_holder(ANN))
    redis_now = await redis_ms(rig.redis)
    assert granted is not None and abs(granted - (redis_now + 365 * DAY_MS)) <= 5_000
    # A leap year's renewal pays for 366 days; a period an hour over a whole day counts whole.
    later = now + 365 * DAY
    renewal = invoice(ANN, invoice_id="in_y2", period=(later, later + 366 * DAY + 3600))
    assert (await rig.deliver(event("invoice.paid", renewal, event_id="evt_y2"))).granted
    assert await rig.until(account_holder(ANN)) == granted + 367 * DAY_MS
    record = await rig.redis.hget(premium_key(account_holder(ANN)), "g:stripe:in_y2")
    assert b'"days":367' in record


@pytest.mark.parametrize("days", [1, 7, 28, 31, 92])
async def test_an_invoice_grants_its_periods_days(rig: Rig, days: int) -> None:
    now = int(time.time())
    body = invoice(ANN, reason="subscription_create", period=(now, now + days * DAY))
    await rig.deliver(event("invoice.paid", body))
    until = await rig.until(account_holder(ANN))
    assert until is not None
    assert abs(until - (await redis_ms(rig.redis) + days * DAY_MS)) <= 5_000


async def test_an_invoice_without_a_period_grants_the_default_days(rig: Rig) -> None:
    body = invoice(ANN, reason="subscription_create") | {"lines": {"data": []}}
    assert (await rig.deliver(event("invoice.paid", body))).granted
    until = await rig.until(account_holder(ANN))
    assert until is not None and abs(until - (await redis_ms(rig.redis) + DAYS_MS)) <= 5_000


@pytest.mark.parametrize("reason", ["subscription_update", "manual", "subscription_threshold"])
async def test_an_invoice_for_no_billing_period_grants_nothing(rig: Rig, reason: str) -> None:
    body = invoice(ANN, reason=reason)
    assert (await rig.deliver(event("invoice.paid", body))).outcome == "not_a_billing_period"
    assert await rig.until(account_holder(ANN)) is None


async def test_the_first_period_of_a_subscription_is_granted_once(rig: Rig) -> None:
    """Its checkout and its first invoice both arrive; only the invoice grants."""
    started = event("checkout.session.completed", checkout_completed(ANN, mode="subscription"))
    first = invoice(ANN, invoice_id="in_test_first", reason="subscription_create")
    await rig.deliver(started)
    await rig.deliver(event("invoice.paid", first, event_id="evt_first"))
    again = event(
        "checkout.session.async_payment_succeeded",
        checkout_completed(ANN, mode="subscription"),
        event_id="evt_async",
    )
    assert (await rig.deliver(again)).outcome == "subscription_started"
    assert await rig.grants(account_holder(ANN)) == [b"g:stripe:in_test_first"]


async def test_an_unknown_event_is_ignored_without_touching_redis() -> None:
    async with built(BrokenRedis()) as rig:
        receipt = await rig.deliver(event("customer.created", {"id": "cus_1"}))
        assert receipt == Receipt("evt_test_1", "ignored")
        assert rig.redis.calls == 0


# Whose premium ----------------------------------------------------------------------------


async def test_a_malformed_account_id_falls_back_to_the_next_one(rig: Rig) -> None:
    session = checkout_completed(BOB) | {"metadata": {"user_id": "../../x"}}
    await rig.deliver(event("checkout.session.completed", session))
    assert await rig.until(account_holder(BOB)) is not None
    assert await rig.redis.keys(f"{premium_key('')[:-2]}*") == [
        premium_key(account_holder(BOB)).encode()
    ]


async def test_without_an_account_id_the_payers_account_is_found_by_email(rig: Rig) -> None:
    await rig.auth.accounts.create(Account(BOB, "bob@example.com", "hash", 0))
    receipt = await rig.deliver(paid(None, email=" Bob@Example.COM "))
    assert receipt.outcome == "premium_granted"
    assert await rig.until(account_holder(BOB)) is not None


async def test_an_email_without_an_account_holds_the_premium_for_it(rig: Rig) -> None:
    await rig.deliver(paid(None, email="new@example.com"))
    held = await rig.until(email_holder("new@example.com"))
    assert held is not None
    await rig.auth.premium.claim("new@example.com", BOB)  # what sign-up does
    assert await rig.until(account_holder(BOB)) == held


@pytest.mark.parametrize(
    "payload",
    [
        paid(None, email=None),
        paid(None, email="not an email"),
        event("customer.subscription.deleted", {"id": "sub_9", "metadata": {}}),
        event("charge.refunded", {"id": "ch_9", "refunded": True}),
    ],
    ids=["checkout", "bad-email", "subscription", "charge"],
)
async def test_an_event_naming_nobody_is_answered_and_journalled(rig: Rig, payload: bytes) -> None:
    receipt = await rig.deliver(payload)
    assert (receipt.outcome, receipt.applied) == ("holder_not_found", False)
    assert await rig.redis.keys(f"{premium_key('')[:-2]}*") == []
    assert (await rig.deliver(payload)).duplicate


def test_the_payload_cap_is_a_mebibyte() -> None:
    assert MAX_PAYLOAD == 1024 * 1024
