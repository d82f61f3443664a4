"""The Stripe webhook: verify the signature, handle each event id once, apply its effect.

Answers, and why (Stripe retries any answer but a 2xx, for up to 3 days):
- no STRIPE_WEBHOOK_SECRET: 503 `payments_not_configured` — the endpoint is closed, and the
  events Stripe keeps retrying are handled once the secret is set;
- a missing, wrong or stale signature (the library's own check and its default 5-minute
  tolerance), or a header the library cannot check (not ASCII): 400 `invalid_signature`;
- the effect could not be recorded (Redis down): the gateway's 503 with Retry-After, so Stripe
  retries — and the retry applies it once;
- otherwise 200, also for an event type we do not handle and for an event that names nobody
  (retrying would change neither)."""

from __future__ import annotations

import logging
from typing import NoReturn

import msgspec
import stripe

from threadr.errors import BadRequest, ServiceUnavailable

from .entitlements import Effect, Entitlements
from .events import decode_event
from .journal import Journal

log = logging.getLogger(__name__)

MAX_PAYLOAD = 1024 * 1024  # bytes; Stripe's events are a few KiB


class Receipt(msgspec.Struct, frozen=True):
    """The webhook's answer: what the event did, and whether it had been handled before."""

    event_id: str
    outcome: str
    duplicate: bool = False
    applied: bool = False
    granted: bool = False


def not_configured() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Stripe webhooks are not set up on this server (STRIPE_WEBHOOK_SECRET is not set).",
        code="payments_not_configured",
    )


def verify(payload: bytes, signature: str | None, secret: str) -> None:
    """Raise 400 `invalid_signature` unless `signature` (the Stripe-Signature header) signs
    `payload` with `secret`, made within the library's default tolerance."""
    if signature is not None and not signature.isascii():
        # Stripe's header is ASCII; the library would hand other text to hmac.compare_digest,
        # which raises TypeError for it (a 500). Refused before it gets there.
        _refuse("the header is not ASCII")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        # The library's reason (missing, no match, too old) without the header or the body.
        _refuse(exc.user_message or "")
    except UnicodeDecodeError:
        _refuse("the body is not UTF-8")
    except (TypeError, ValueError) as exc:
        # Anything else the library cannot check is a signature it could not verify: a 400,
        # never a 500 with the exception's text. Only the exception's kind is logged.
        _refuse(f"the library could not check it ({type(exc).__name__})")


def _refuse(reason: str) -> NoReturn:
    log.info("Stripe webhook refused: %s", reason[:120])
    raise BadRequest(
        "The Stripe-Signature header is missing, does not match this payload, or is too "
        "old; the event was not accepted.",
        code="invalid_signature",
    ) from None


class Webhooks:
    """Verifies, deduplicates and dispatches Stripe events; `secret` None: closed."""

    def __init__(self, secret: str | None, entitlements: Entitlements, journal: Journal) -> None:
        self._secret = secret
        self.entitlements = entitlements
        self.journal = journal

    @property
    def configured(self) -> bool:
        return self._secret is not None

    async def receive(self, payload: bytes, signature: str | None) -> Receipt:
        """Handle one delivery: its receipt, or the error to answer."""
        if self._secret is None:
            raise not_configured()
        verify(payload, signature, self._secret)
        event = decode_event(payload)
        handler = self.entitlements.handlers.get(event.type)
        if handler is None:
            # Nothing to record: an ignored event needs no Redis, and answers 200 without it.
            log.info("Stripe %s %s ignored (not a type we handle)", event.type, event.id)
            return Receipt(event.id, "ignored")
        seen = await self.journal.find(event.id)
        if seen is not None:
            log.info("Stripe %s %s handled before (%s)", event.type, event.id, seen.outcome)
            return Receipt(event.id, seen.outcome, duplicate=True)
        effect: Effect = await handler(event)  # a 503 here leaves no record: Stripe retries
        await self.journal.record(event.id, event.type, effect.outcome)
        return Receipt(event.id, effect.outcome, applied=effect.applied, granted=effect.granted)
