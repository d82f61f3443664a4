"""Stripe events as the webhook reads them: msgspec Structs of only the fields it uses, each with
a default. Stripe adds fields, and moves some between API versions (an event arrives in the API
version of its webhook endpoint), so unknown fields are ignored and both places of a moved one
are read."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from threadr.errors import BadRequest

# Stripe's ids: a type prefix, an underscore and letters or digits (evt_…, cs_…, in_…).
_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


class Payer(msgspec.Struct, frozen=True):
    """Who an object says paid: the account id we sent along (metadata, then
    client_reference_id, as sent) and the email Stripe collected."""

    user_ids: tuple[str, ...] = ()
    email: str | None = None


def _payer(metadata: dict[str, str] | None, *ids: str | None, email: str | None) -> Payer:
    found = [(metadata or {}).get("user_id"), *ids]
    return Payer(tuple(i for i in found if i), email or None)


class EventData(msgspec.Struct):
    object: msgspec.Raw


class Event(msgspec.Struct):
    """The envelope of every event; `data.object` is decoded by type, when it is handled."""

    id: str
    type: str
    data: EventData
    livemode: bool = False


class CustomerDetails(msgspec.Struct):
    email: str | None = None


class StripeObject(msgspec.Struct):
    """What every object of an event has: its id."""

    id: str


Obj = TypeVar("Obj", bound=StripeObject)


def _ids(*found: str | None) -> tuple[str, ...]:
    """The Stripe ids among `found`, in order, once each."""
    return tuple(dict.fromkeys(i for i in found if i and _ID.fullmatch(i)))


class CheckoutSession(StripeObject):
    """checkout.session.completed / .async_payment_succeeded."""

    payment_status: str | None = None  # paid | unpaid (a delayed method) | no_payment_required
    mode: str | None = None  # payment | subscription
    client_reference_id: str | None = None
    customer_email: str | None = None
    customer_details: CustomerDetails | None = None
    metadata: dict[str, str] | None = None
    payment_intent: str | None = None  # a one-off payment's: its charge's refund names it
    invoice: str | None = None

    def payer(self) -> Payer:
        details = self.customer_details.email if self.customer_details else None
        return _payer(self.metadata, self.client_reference_id, email=details or self.customer_email)

    def payment_ids(self) -> tuple[str, ...]:
        return _ids(self.payment_intent, self.invoice)


class SubscriptionDetails(msgspec.Struct):
    metadata: dict[str, str] | None = None
    subscription: str | None = None


class InvoiceParent(msgspec.Struct):
    subscription_details: SubscriptionDetails | None = None


class Period(msgspec.Struct):
    start: int = 0  # epoch s
    end: int = 0


class Line(msgspec.Struct):
    """An invoice line: the service period it pays for (a subscription's billing period)."""

    period: Period | None = None


class Lines(msgspec.Struct):
    data: list[Line] = []


class PaymentRef(msgspec.Struct):
    payment_intent: str | None = None
    charge: str | None = None


class InvoicePayment(msgspec.Struct):
    payment: PaymentRef | None = None


class InvoicePayments(msgspec.Struct):
    data: list[InvoicePayment] = []


class Invoice(StripeObject):
    """invoice.paid. API version 2025-03-31 moved the subscription's metadata and id from
    `subscription_details` and `subscription` to `parent.subscription_details`, and the
    payment from `payment_intent` and `charge` to `payments` (in an event only when
    included): both places are read."""

    billing_reason: str | None = None  # subscription_create | subscription_cycle | …
    customer_email: str | None = None
    subscription_details: SubscriptionDetails | None = None
    parent: InvoiceParent | None = None
    metadata: dict[str, str] | None = None
    subscription: str | None = None
    payment_intent: str | None = None
    charge: str | None = None
    payments: InvoicePayments | None = None
    lines: Lines | None = None

    def _details(self) -> SubscriptionDetails | None:
        return self.subscription_details or (
            self.parent.subscription_details if self.parent else None
        )

    def payer(self) -> Payer:
        details = self._details()
        metadata = details.metadata if details else None
        return _payer(metadata, (self.metadata or {}).get("user_id"), email=self.customer_email)

    def subscription_id(self) -> str | None:
        details = self._details()
        found = _ids(self.subscription, details.subscription if details else None)
        return found[0] if found else None

    def period(self) -> Period | None:
        """The longest service period among its lines (the subscription's billing period;
        an invoice item added to it has an empty one), None when no line has one."""
        lines = self.lines.data if self.lines else []
        periods = [line.period for line in lines if line.period]
        longest = max(periods, key=lambda p: p.end - p.start, default=None)
        return longest if longest is not None and longest.end > longest.start else None

    def payment_ids(self) -> tuple[str, ...]:
        payments = [p.payment for p in self.payments.data] if self.payments else []
        paid = [(p.payment_intent, p.charge) for p in payments if p is not None]
        return _ids(self.id, self.payment_intent, self.charge, *(i for pair in paid for i in pair))


class Subscription(StripeObject):
    """customer.subscription.deleted: its id finds its latest grant (billing/links.py)."""


class Charge(StripeObject):
    """charge.refunded: `refunded` is true once the whole amount is refunded. Its payment
    intent (and, before API version 2025-03-31, its invoice) find the grant it paid for."""

    refunded: bool = False
    payment_intent: str | None = None
    invoice: str | None = None

    def payment_ids(self) -> tuple[str, ...]:
        return _ids(self.payment_intent, self.invoice, self.id)


_decode_event = msgspec.json.Decoder(Event).decode


def _invalid(why: str) -> BadRequest:
    return BadRequest(f"This is not a Stripe event we can read: {why}", code="invalid_event")


def decode_event(payload: bytes) -> Event:
    """The envelope of a verified payload; 400 `invalid_event` when it is not one."""
    try:
        event = _decode_event(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _invalid(f"{str(exc)[:200]}.") from exc
    if not _ID.fullmatch(event.id):
        raise _invalid("its id is not a Stripe id.")
    return event


def decode_object(event: Event, decoder: msgspec.json.Decoder[Obj]) -> Obj:
    """`event.data.object` through `decoder`; 400 `invalid_event` when it does not fit."""
    try:
        found = decoder.decode(event.data.object)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _invalid(f"{str(exc)[:200]}.") from exc
    if not _ID.fullmatch(found.id):
        raise _invalid("its object's id is not a Stripe id.")
    return found


CHECKOUT_SESSION = msgspec.json.Decoder(CheckoutSession)
INVOICE = msgspec.json.Decoder(Invoice)
SUBSCRIPTION = msgspec.json.Decoder(Subscription)
CHARGE = msgspec.json.Decoder(Charge)
