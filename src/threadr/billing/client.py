"""The Stripe API client: the official library's StripeClient (its `*_async` methods) over an
httpx client of ours, with bounded timeouts and an httpx transport as the seam that tests use.

Why not the library's own `stripe.HTTPXClient`: it takes no transport, and it sends the form
body as `data=<str>`, which httpx deprecates (a DeprecationWarning on every call — an
APIConnectionError where warnings are errors, as in our tests). `stripe.HTTPClient` is the
library's documented base for custom clients; this one is that, on httpx, sending `content=`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

import httpx
import stripe

# Per request: connect within 5 s, and no read, write or pool wait longer than 10 s. With one
# retry (the library's backoff sleeps at most a few seconds) a checkout answers, or fails with
# a 502, within about half a minute — never a request left hanging on Stripe.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_NETWORK_RETRIES = 1


class StripeHTTP(stripe.HTTPClient):
    """The library's HTTP client interface, async only, on one pooled httpx.AsyncClient."""

    name = "threadr-httpx"

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        super().__init__()
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._http.request(method, url, headers=headers, content=post_data)
        except httpx.HTTPError as exc:
            # The library turns this into its retry decision and, at last, its StripeError.
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Could not reach Stripe ({type(exc).__name__}).", should_retry=True
            ) from exc
        return response.content, response.status_code, response.headers

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)

    async def close_async(self) -> None:
        await self._http.aclose()

    def close(self) -> None:
        """Nothing synchronous to close (the async client closes in `close_async`)."""


def create_stripe_client(
    api_key: str,
    *,
    api_base: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_network_retries: int = MAX_NETWORK_RETRIES,
) -> tuple[stripe.StripeClient, StripeHTTP]:
    """A StripeClient and the HTTP client under it (whose `close_async` its owner calls).
    `api_base` replaces https://api.stripe.com (STRIPE_API_BASE: a local fake in tests)."""
    http = StripeHTTP(transport=transport)
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=http,
        max_network_retries=max_network_retries,
    )
    return client, http
