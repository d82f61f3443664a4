"""Billing as the app holds it: checkout and webhooks, built once per process (services.py)."""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from threadr.accounts.auth import Auth
from threadr.config import Settings
from threadr.storage.gateway import Gateway

from .checkout import Checkout
from .entitlements import Entitlements
from .journal import Journal
from .links import Links
from .webhooks import Webhooks


@dataclass(frozen=True, slots=True)
class Billing:
    """Checkout Sessions (off without STRIPE_SECRET_KEY) and the webhook (closed without
    STRIPE_WEBHOOK_SECRET); each half works without the other."""

    checkout: Checkout
    webhooks: Webhooks

    @classmethod
    def build(
        cls,
        settings: Settings,
        gateway: Gateway,
        auth: Auth,
        client: stripe.StripeClient | None,
    ) -> Billing:
        links = Links(gateway)
        entitlements = Entitlements(auth, links, days=settings.premium_duration_days)
        return cls(
            checkout=Checkout(client, settings),
            webhooks=Webhooks(settings.stripe_webhook_secret, entitlements, Journal(gateway)),
        )
