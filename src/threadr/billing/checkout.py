"""Checkout: the Stripe Checkout Session that sells premium to a signed-in account, and the
redirect URLs it may carry — only ever to the service's own frontend origins (CORS_ORIGINS),
so that no one can make a payment page send a person on to a site of their choosing."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

import msgspec
import stripe

from threadr.config import Settings
from threadr.errors import PaymentProviderFailed, ServiceUnavailable, ValidationFailed

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

log = logging.getLogger(__name__)

CURRENCY = "usd"
MAX_URL = 2048  # characters; Stripe takes up to 5,000, no real return page needs this many
# A whole checkout creation (the price lookup, the session, the library's one retry) ends by
# then; each HTTP request is bounded on its own too (client.py).
DEADLINE_SECONDS = 30.0
# Stripe puts the session's id where this stands (its documented template variable).
SUCCESS_QUERY = "?checkout=success&session_id={CHECKOUT_SESSION_ID}"
CANCEL_QUERY = "?checkout=cancelled"

Mode = Literal["payment", "subscription"]


class CheckoutSession(msgspec.Struct, frozen=True):
    """A created Checkout Session: where to send the buyer, and its id."""

    url: str
    id: str


def not_configured() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Payments are not set up on this server (STRIPE_SECRET_KEY is not set).",
        code="payments_not_configured",
    )


def redirect_url(raw: str | None, name: str, origins: tuple[str, ...], default: str) -> str:
    """`raw` when it is an http(s) URL on one of `origins`; `default` (a path and query) on
    the first origin when `raw` is None; a 422 saying why otherwise. A `*` origin (any site
    may call the API) allows no redirect: it names no site of ours."""
    own = [origin for origin in origins if origin != "*"]
    if raw is None:
        if not own:
            raise ValidationFailed(
                f"Send `{name}`: this server has no frontend origins (CORS_ORIGINS) to build "
                "the page Stripe returns the buyer to.",
                code="redirect_url_required",
            )
        return own[0] + default
    if _origin_of(raw) not in {origin.lower() for origin in own}:
        allowed = ", ".join(own) if own else "none are configured (CORS_ORIGINS)"
        raise ValidationFailed(
            f"`{name}` must be a page on one of this service's frontend origins: {allowed}.",
            code="redirect_not_allowed",
        )
    return raw


def _origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, lower-cased; None for anything a
    browser could read another way (credentials, backslashes, spaces, control characters)."""
    if len(url) > MAX_URL or "\\" in url or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class Checkout:
    """Creates Checkout Sessions through the async StripeClient (no client: payments off)."""

    def __init__(
        self,
        client: stripe.StripeClient | None,
        settings: Settings,
        *,
        deadline: float = DEADLINE_SECONDS,
    ) -> None:
        self.client = client
        self.settings = settings
        self.deadline = deadline
        self._price_mode: Mode | None = None  # STRIPE_PRICE_ID's, looked up once

    @property
    def configured(self) -> bool:
        return self.client is not None

    async def create(
        self,
        user_id: str,
        email: str,
        *,
        success_url: str | None = None,
        cancel_url: str | None = None,
    ) -> CheckoutSession:
        """A Checkout Session for premium, paid by the account `user_id`: 503 when payments
        are off, 422 for a redirect off our origins, 502 when Stripe fails or is too slow."""
        client = self.client
        if client is None:
            raise not_configured()
        origins = self.settings.cors_origins
        success = redirect_url(success_url, "success_url", origins, "/" + SUCCESS_QUERY)
        cancel = redirect_url(cancel_url, "cancel_url", origins, "/" + CANCEL_QUERY)
        try:
            async with asyncio.timeout(self.deadline):
                params = self.params(await self._mode(client), user_id, email, success, cancel)
                session = await client.v1.checkout.sessions.create_async(
                    cast("SessionCreateParams", params)
                )
        except TimeoutError:
            log.warning("Stripe did not answer a checkout within %g s", self.deadline)
            raise PaymentProviderFailed(
                "Our payment provider did not answer in time; please try again in a minute.",
                code="payment_provider_timeout",
            ) from None
        except stripe.StripeError as exc:
            # The library's message names a parameter or an id, never the key; still, only
            # its kind, code and request id are logged.
            log.warning(
                "Stripe refused a checkout: %s (status %s, code %s, request %s)",
                type(exc).__name__,
                exc.http_status,
                exc.code,
                exc.request_id,
            )
            raise PaymentProviderFailed(
                "Our payment provider could not start the checkout; please try again later.",
            ) from exc
        if not session.url:
            raise PaymentProviderFailed(
                "Our payment provider started a checkout without a payment page; please try "
                "again later."
            )
        return CheckoutSession(url=session.url, id=session.id)

    def params(
        self, mode: Mode, user_id: str, email: str, success_url: str, cancel_url: str
    ) -> dict[str, Any]:
        """The session's parameters. The account's id travels in `client_reference_id` and in
        the metadata of the session and of what it creates (the payment, or the subscription
        whose renewal invoices then carry it), so that every later event names its account."""
        settings = self.settings
        metadata = {"user_id": user_id}
        params: dict[str, Any] = {
            "mode": mode,
            "line_items": [self._line_item()],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": user_id,
            "customer_email": email,
            "metadata": metadata,
        }
        if mode == "subscription":
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["payment_intent_data"] = {
                "metadata": metadata,
                "description": f"Threadr Premium, {settings.premium_duration_days} days",
            }
        return params

    def _line_item(self) -> dict[str, Any]:
        settings = self.settings
        if settings.stripe_price_id:
            return {"price": settings.stripe_price_id, "quantity": 1}
        days = settings.premium_duration_days
        return {
            "price_data": {
                "currency": CURRENCY,
                "unit_amount": round(settings.premium_price_usd * 100),
                "product_data": {
                    "name": "Threadr Premium",
                    "description": f"Unlimited threads for {days} days.",
                },
            },
            "quantity": 1,
        }

    async def _mode(self, client: stripe.StripeClient) -> Mode:
        """A one-off payment, or a subscription when STRIPE_PRICE_ID is a recurring price
        (asked of Stripe once per process: the mode must match the price)."""
        price_id = self.settings.stripe_price_id
        if not price_id:
            return "payment"
        if self._price_mode is None:
            price = await client.v1.prices.retrieve_async(price_id)
            self._price_mode = "subscription" if price.type == "recurring" else "payment"
        return self._price_mode
