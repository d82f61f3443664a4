"""What each Stripe event does to premium, and whose premium it is.

    event                                effect                               reference
    checkout.session.completed, paid     payment mode: + PREMIUM_DURATION_DAYS stripe:<cs_…>
                                         subscription mode: nothing (its first
                                         invoice grants the period it pays)
    checkout.session.async_payment_succeeded   the same (delayed payment methods)
    invoice.paid, subscription_create    + the days of the period it pays      stripe:<in_…>
      or subscription_cycle                (its line's period, rounded up)
    charge.refunded, in full             takes back what is left of the grant  stripe:<ch_…>:
                                         its payment made                        refunded
    customer.subscription.deleted        takes back what is left of the        stripe:<sub_…>:
                                         subscription's latest grant             deleted

A grant's holder is the account whose id we sent along (metadata `user_id`, then
`client_reference_id`: 24 hex digits, else ignored), else the email Stripe collected — its
account's, or held for the email until an account with it signs up or in. A refund or a
cancellation never looks for a holder: it follows the link its payment's grant left
(billing/links.py), so it takes back that grant, from whoever got it, and nothing else."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from threadr.accounts.auth import Auth
from threadr.accounts.premium import DAY_MS, Grant, account_holder, email_holder
from threadr.errors import ValidationFailed
from threadr.subscribers.address import normalise

from .events import (
    CHARGE,
    CHECKOUT_SESSION,
    INVOICE,
    SUBSCRIPTION,
    Event,
    Payer,
    decode_object,
)
from .links import Link, Links

log = logging.getLogger(__name__)

SOURCE = "stripe"  # the source a grant's record names (accounts/premium.py)
# An account id as accounts/sessions.py `new_user_id` makes it.
_USER_ID = re.compile(r"[0-9a-f]{24}")
# The invoices that pay a subscription's period: its first, and each renewal.
PERIOD_REASONS = frozenset({"subscription_create", "subscription_cycle"})
DAY_SECONDS = 86_400


class Effect(msgspec.Struct, frozen=True):
    """What an event did: `outcome` names it; `applied` is true when it was recorded now
    (false: nothing to change, or its reference had been applied before); `granted` when
    that change was a grant."""

    outcome: str
    applied: bool = False
    granted: bool = False


class Entitlements:
    """Applies paid, renewed, refunded and cancelled events to premium through `auth`."""

    def __init__(self, auth: Auth, links: Links, *, days: int) -> None:
        self.auth = auth
        self.links = links
        self.days = days  # PREMIUM_DURATION_DAYS: what a one-off payment buys
        self.handlers: dict[str, Callable[[Event], Awaitable[Effect]]] = {
            "checkout.session.completed": self.checkout_paid,
            "checkout.session.async_payment_succeeded": self.checkout_paid,
            "invoice.paid": self.invoice_paid,
            "customer.subscription.deleted": self.subscription_deleted,
            "charge.refunded": self.charge_refunded,
        }

    async def checkout_paid(self, event: Event) -> Effect:
        session = decode_object(event, CHECKOUT_SESSION)
        if session.mode == "subscription":
            # Its first invoice (subscription_create) grants the period it pays for: the
            # session does not say how long that is.
            return Effect("subscription_started")
        if session.payment_status != "paid":
            # Delayed methods complete unpaid; async_payment_succeeded brings the payment.
            return Effect("not_paid")
        return await self._grant(
            event, session.payer(), f"stripe:{session.id}", self.days, session.payment_ids()
        )

    async def invoice_paid(self, event: Event) -> Effect:
        invoice = decode_object(event, INVOICE)
        if invoice.billing_reason not in PERIOD_REASONS:
            return Effect("not_a_billing_period")  # e.g. a proration after a plan change
        period = invoice.period()
        if period is None:
            log.warning(
                "Stripe %s %s: no line with a period; granting PREMIUM_DURATION_DAYS",
                event.type,
                event.id,
            )
            days, period_end = self.days, 0
        else:
            # Whole days, rounded up: at most a day more than the period paid for, never less.
            days = math.ceil((period.end - period.start) / DAY_SECONDS)
            period_end = period.end
        return await self._grant(
            event,
            invoice.payer(),
            f"stripe:{invoice.id}",
            days,
            invoice.payment_ids(),
            subscription=invoice.subscription_id(),
            period_end=period_end,
        )

    async def subscription_deleted(self, event: Event) -> Effect:
        subscription = decode_object(event, SUBSCRIPTION)
        reference = f"stripe:{subscription.id}:deleted"
        return await self._revoke(event, (subscription.id,), reference)

    async def charge_refunded(self, event: Event) -> Effect:
        charge = decode_object(event, CHARGE)
        if not charge.refunded:
            return Effect("partial_refund")  # premium stays; a full refund takes it back
        return await self._revoke(event, charge.payment_ids(), f"stripe:{charge.id}:refunded")

    async def _grant(
        self,
        event: Event,
        payer: Payer,
        reference: str,
        days: int,
        ids: Sequence[str],
        *,
        subscription: str | None = None,
        period_end: int = 0,
    ) -> Effect:
        user_id = _user_id(event, payer)
        held_for: str | None = None  # the email a grant is held for, until its account claims it
        if user_id is not None:
            holder, whose = account_holder(user_id), f"account {user_id}"
        elif (email := _email(payer)) is not None:
            account = await self.auth.accounts.find(email)
            if account is not None:
                holder = account_holder(account.user_id)
            else:
                holder, held_for = email_holder(email), email
            whose = "the payer's email"
        else:
            return _nobody(event)
        if not ids and subscription is None:
            log.warning(
                "Stripe %s %s carries no payment id: a refund of it will not find its grant",
                event.type,
                event.id,
            )
        link = Link(holder, reference, email=held_for, period_end=period_end)
        # Linked before it is applied: a refund handled in between then finds the link, and
        # marks the grant's reference so that it never applies.
        tombstone = await self.links.bind(ids, link, subscription=subscription)
        if tombstone is not None:
            log.warning(
                "Stripe %s %s: %s came first; nothing granted",
                event.type,
                event.id,
                tombstone.revoked_by,
            )
            return Effect("revoked_before_grant")
        grant = await self.auth.premium.extend(holder, days, reference, SOURCE)
        return _effect(event, grant, "premium_granted", f"{whose}, {days} days", granted=True)

    async def _revoke(self, event: Event, ids: Sequence[str], reference: str) -> Effect:
        link = await self.links.resolve(ids, reference)
        if link is None:
            # Answered 200: a redelivery would find no grant either. A grant for this payment
            # that comes later meets the tombstone resolve left, and applies nothing.
            log.warning(
                "Stripe %s %s: no grant is linked to %s; nothing revoked",
                event.type,
                event.id,
                ", ".join(ids),
            )
            return Effect("holder_not_found")
        holder = link.holder
        if link.email is not None:
            # Held for an email then: its grants move to the account that claims it.
            account = await self.auth.accounts.find(link.email)
            holder = account_holder(account.user_id) if account is not None else holder
        grant = await self.auth.premium.revoke(holder, reference, link.reference, SOURCE)
        # The holder as stored (u:<account id>, e:<email hash>): never an address.
        took = f"took back {grant.taken_ms / DAY_MS:.2f} days of {link.reference}"
        return _effect(event, grant, "premium_revoked", f"{holder}: {took}")


def _user_id(event: Event, payer: Payer) -> str | None:
    for candidate in payer.user_ids:
        if _USER_ID.fullmatch(candidate):
            return candidate
        log.warning("Stripe %s %s: ignored an account id that is not one", event.type, event.id)
    return None


def _email(payer: Payer) -> str | None:
    if payer.email is None:
        return None
    try:
        return normalise(payer.email)
    except ValidationFailed:
        return None


def _effect(
    event: Event, grant: Grant, outcome: str, what: str, *, granted: bool = False
) -> Effect:
    if not grant.applied:
        log.info("Stripe %s %s: applied before, nothing changed", event.type, event.id)
        return Effect("already_applied")
    # Who, by account id or as "the payer's email": a log line never holds an address.
    log.info("Stripe %s %s: %s for %s", event.type, event.id, outcome, what)
    return Effect(outcome, applied=True, granted=granted)


def _nobody(event: Event) -> Effect:
    # Answered 200: a redelivery would name nobody either. Logged for a person to look into.
    log.warning(
        "Stripe %s %s names no account and no usable email; premium unchanged",
        event.type,
        event.id,
    )
    return Effect("holder_not_found")
