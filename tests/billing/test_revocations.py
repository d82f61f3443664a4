"""Refunds and cancelled subscriptions on fakeredis: each takes back what is left of the one grant
its payment made — found by Stripe's ids through the link the grant left, never by an email typed
at payment — and nothing of any other grant; a refund handled before its payment's grant (Stripe
does not keep their order) leaves no premium; Redis down answers 503 and the retry applies once."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from tests.billing.rig import ANN, BOB, DAYS_MS, Rig, paid
from tests.billing.stripe_fake import (
    DAY,
    charge,
    checkout_completed,
    event,
    invoice,
    subscription,
)
from tests.factories import redis_ms
from threadr.accounts.premium import DAY_MS, account_holder, email_holder
from threadr.accounts.users import Account
from threadr.billing.links import LINK_TTL_SECONDS, Link, link_key
from threadr.errors import ServiceUnavailable
from threadr.storage.keys import premium_key

SLACK_MS = 5_000


def close_to(value: int | None, expected: int) -> bool:
    return value is not None and abs(value - expected) <= SLACK_MS


def refund(event_id: str = "evt_refund", **fields: Any) -> bytes:
    return event("charge.refunded", charge(**fields), event_id=event_id)


def deleted(subscription_id: str = "sub_test_1", event_id: str = "evt_deleted") -> bytes:
    # Its metadata names the account: a cancellation still goes by the link, not by it.
    body = subscription(subscription_id, user_id=ANN)
    return event("customer.subscription.deleted", body, event_id=event_id)


def renewal(invoice_id: str, start: int, days: int = 31, **fields: Any) -> bytes:
    body = invoice(ANN, invoice_id=invoice_id, period=(start, start + days * DAY), **fields)
    return event("invoice.paid", body, event_id=f"evt_{invoice_id}")


async def link_of(rig: Rig, stripe_id: str) -> Link | None:
    raw = await rig.redis.get(link_key(stripe_id))
    return None if raw is None else msgspec.msgpack.decode(raw, type=Link)


# Refunds ------------------------------------------------------------------------------------


async def test_a_refund_takes_back_only_the_days_its_payment_granted(rig: Rig) -> None:
    """An admin's 365 days, then a 30-day purchase, refunded: the 365 days stay."""
    holder = account_holder(ANN)
    year = await rig.auth.premium.extend(holder, 365, "INV-2026-1", "admin")
    await rig.deliver(paid())
    assert await rig.until(holder) == year.until + DAYS_MS
    receipt = await rig.deliver(refund())
    assert (receipt.outcome, receipt.applied, receipt.granted) == ("premium_revoked", True, False)
    assert await rig.until(holder) == year.until
    assert (await rig.deliver(refund())).duplicate
    assert await rig.until(holder) == year.until


async def test_a_refund_of_the_only_grant_ends_premium_now(rig: Rig) -> None:
    await rig.deliver(paid())
    await rig.deliver(refund())
    until = await rig.until(account_holder(ANN))
    assert until is not None and until <= await redis_ms(rig.redis)


async def test_a_partial_refund_leaves_the_grant(rig: Rig) -> None:
    await rig.deliver(paid())
    before = await rig.until(account_holder(ANN))
    assert (await rig.deliver(refund(refunded=False))).outcome == "partial_refund"
    assert await rig.until(account_holder(ANN)) == before


async def test_a_refund_never_finds_the_holder_by_the_billing_email(rig: Rig) -> None:
    """Ann pays (her account in the session) typing Bob's email for the receipt; Bob has
    premium of his own. The refund takes Ann's grant back, and Bob's stays."""
    await rig.auth.accounts.create(Account(BOB, "bob@example.com", "hash", 0))
    bobs = await rig.auth.premium.extend(account_holder(BOB), 30, "INV-bob", "admin")
    await rig.deliver(paid(email="bob@example.com"))
    await rig.deliver(refund(email="bob@example.com"))
    ann = await rig.until(account_holder(ANN))
    assert ann is not None and ann <= await redis_ms(rig.redis)
    assert await rig.until(account_holder(BOB)) == bobs.until
    # A refund of a payment no grant of ours came from touches nobody, whatever its email.
    other = await rig.deliver(refund("evt_other", charge_id="ch_x", payment_intent="pi_x"))
    assert (other.outcome, other.applied) == ("holder_not_found", False)
    assert await rig.until(account_holder(BOB)) == bobs.until


async def test_a_refund_of_an_email_held_grant_follows_it_to_its_account(rig: Rig) -> None:
    await rig.deliver(paid(None, email="New@Example.com"))
    link = await link_of(rig, "pi_test_1")
    assert link is not None and link.holder == email_holder("new@example.com")
    await rig.auth.accounts.create(Account(BOB, "new@example.com", "hash", 0))
    await rig.auth.premium.claim("new@example.com", BOB)  # what sign-up does
    assert (await rig.deliver(refund())).outcome == "premium_revoked"
    until = await rig.until(account_holder(BOB))
    assert until is not None and until <= await redis_ms(rig.redis)


async def test_a_refund_of_a_renewal_finds_its_invoice(rig: Rig) -> None:
    """Before API version 2025-03-31 a charge names its invoice (and the invoice its payment
    intent); the refund takes back that period, not the others."""
    now = int(time.time())
    await rig.deliver(renewal("in_1", now, reason="subscription_create"))
    first = await rig.until(account_holder(ANN))
    await rig.deliver(renewal("in_2", now + 31 * DAY, legacy=True, payment_intent="pi_2"))
    await rig.deliver(refund(charge_id="ch_2", payment_intent="pi_2", invoice_id="in_2"))
    assert await rig.until(account_holder(ANN)) == first


# Cancelled subscriptions ----------------------------------------------------------------------


async def test_a_cancellation_takes_back_what_is_left_of_the_latest_period_only(
    rig: Rig,
) -> None:
    """An admin's 10 days, then two monthly periods stacked after them: cancelling takes back
    the second period (all of it is left), not the first, nor the admin's days."""
    holder = account_holder(ANN)
    admin = await rig.auth.premium.extend(holder, 10, "INV-10", "admin")
    now = int(time.time())
    await rig.deliver(renewal("in_1", now, reason="subscription_create"))
    await rig.deliver(renewal("in_2", now + 31 * DAY))
    assert await rig.until(holder) == admin.until + 62 * DAY_MS
    latest = await link_of(rig, "sub_test_1")
    assert latest is not None and latest.reference == "stripe:in_2"

    receipt = await rig.deliver(deleted())
    assert (receipt.outcome, receipt.applied) == ("premium_revoked", True)
    assert await rig.until(holder) == admin.until + 31 * DAY_MS
    assert (await rig.deliver(deleted(event_id="evt_deleted_again"))).outcome == "already_applied"


async def test_an_older_renewal_delivered_late_does_not_become_the_latest(rig: Rig) -> None:
    now = int(time.time())
    await rig.deliver(renewal("in_2", now + 31 * DAY))
    await rig.deliver(renewal("in_1", now, reason="subscription_create"))
    latest = await link_of(rig, "sub_test_1")
    assert latest is not None and latest.reference == "stripe:in_2"


async def test_a_cancellation_whose_period_has_passed_takes_nothing(rig: Rig) -> None:
    """Cancelled at the end of the period: its time is used up; an admin's grant after it
    stays whole."""
    holder = account_holder(ANN)
    await rig.deliver(renewal("in_1", int(time.time()), reason="subscription_create"))
    # As if the month had passed: the period's grant ended a moment ago.
    key, now = premium_key(holder), await redis_ms(rig.redis)
    record = (await rig.redis.hget(key, "g:stripe:in_1")).decode()
    until = str(now - 1000)
    record = record.rsplit('"until":', 1)[0] + f'"until":{until}}}'
    await rig.redis.hset(key, mapping={"g:stripe:in_1": record, "until": until})
    admin = await rig.auth.premium.extend(holder, 365, "INV-365", "admin")
    assert (await rig.deliver(deleted())).applied
    assert await rig.until(holder) == admin.until


async def test_a_cancellation_without_a_linked_grant_touches_nothing(rig: Rig) -> None:
    """Its metadata names Ann, but no grant of this subscription is known: nothing is
    revoked (Ann's other premium stays)."""
    own = await rig.auth.premium.extend(account_holder(ANN), 30, "INV-1", "admin")
    receipt = await rig.deliver(deleted())
    assert (receipt.outcome, receipt.applied) == ("holder_not_found", False)
    assert await rig.until(account_holder(ANN)) == own.until


# Out of order -------------------------------------------------------------------------------


async def test_a_refund_before_the_retried_payment_leaves_no_premium(rig: Rig) -> None:
    """The payment's first delivery fails after its link is written (the grant's script
    fails: 503); the refund comes and is handled; then Stripe's retry of the payment."""
    rig.redis.failing = {"EVALSHA", "EVAL"}
    with pytest.raises(ServiceUnavailable):
        await rig.deliver(paid())
    rig.heal()
    assert (await rig.deliver(refund())).outcome == "premium_revoked"
    retried = await rig.deliver(paid())
    assert (retried.outcome, retried.granted) == ("already_applied", False)
    assert await rig.until(account_holder(ANN)) is None


async def test_a_refund_before_any_delivery_of_its_payment_leaves_no_premium(rig: Rig) -> None:
    """The payment's event had not reached us at all (Redis was down for it): the refund
    finds no link and leaves a tombstone, which the payment's event then meets."""
    first = await rig.deliver(refund())
    assert (first.outcome, first.applied) == ("holder_not_found", False)
    tombstone = await link_of(rig, "pi_test_1")
    assert tombstone is not None and tombstone.revoked_by == "stripe:ch_test_1:refunded"
    late = await rig.deliver(paid())
    assert (late.outcome, late.granted) == ("revoked_before_grant", False)
    assert await rig.until(account_holder(ANN)) is None
    # The same session under another event id is refused too.
    session = checkout_completed(ANN)
    again = event("checkout.session.async_payment_succeeded", session, event_id="evt_async")
    assert (await rig.deliver(again)).outcome == "revoked_before_grant"
    assert await rig.until(account_holder(ANN)) is None


async def test_a_cancellation_before_its_latest_invoice_grants_nothing_for_it(rig: Rig) -> None:
    await rig.deliver(deleted())
    late = await rig.deliver(renewal("in_9", int(time.time())))
    assert late.outcome == "revoked_before_grant"
    assert await rig.until(account_holder(ANN)) is None


# Links and Redis ------------------------------------------------------------------------------


async def test_a_grant_links_its_payment_for_400_days(rig: Rig) -> None:
    await rig.deliver(paid())
    link = await link_of(rig, "pi_test_1")
    assert link == Link(account_holder(ANN), "stripe:cs_test_a1")
    ttl = await rig.redis.ttl(link_key("pi_test_1"))
    assert LINK_TTL_SECONDS - 5 <= ttl <= LINK_TTL_SECONDS == 400 * 86_400
    assert await link_of(rig, "cs_test_a1") is None  # no refund names a session


async def test_a_refund_with_redis_down_is_a_503_and_its_retry_revokes_once(rig: Rig) -> None:
    holder = account_holder(ANN)
    year = await rig.auth.premium.extend(holder, 365, "INV-365", "admin")
    await rig.deliver(paid())
    rig.redis.failing = {"EVALSHA", "EVAL"}
    with pytest.raises(ServiceUnavailable) as down:
        await rig.deliver(refund())
    assert down.value.code == "storage_unavailable" and "Retry-After" in down.value.headers
    rig.heal()
    assert (await rig.deliver(refund())).outcome == "premium_revoked"
    assert await rig.until(holder) == year.until


async def test_a_refund_whose_link_cannot_be_read_is_a_503(rig: Rig) -> None:
    await rig.deliver(paid())
    rig.redis.failing = {"GET"}
    with pytest.raises(ServiceUnavailable):
        await rig.deliver(refund())
    rig.heal()
    assert close_to(await rig.until(account_holder(ANN)), await redis_ms(rig.redis) + DAYS_MS)
