"""Admin endpoints' gate: an `X-API-Key` from API_KEYS, compared in constant time, and a rate
limit per key. Closed when API_KEYS is empty: an operator who set no key gets no admin door."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from threadr.errors import Unauthorized

from .context import services
from .limits import rate_limit_headers, rate_limited


async def require_admin(request: Request) -> None:
    """Raise Unauthorized (401) unless the request carries a valid admin key, and RateLimited
    (429) when that key has made more calls than the premium tier allows."""
    running = services(request)
    keys = running.settings.api_keys
    if not keys:
        raise Unauthorized(
            "Admin endpoints are closed on this server (API_KEYS is not set).", code="admin_closed"
        )
    sent = request.headers.get("x-api-key", "").encode()
    if not sent:
        raise Unauthorized("Send an admin key in the X-API-Key header.")
    # Every key is compared, whichever matches, so the time taken says nothing of which did.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(sent, key.encode())
    if not matched:
        raise Unauthorized("The X-API-Key header does not hold a valid admin key.")
    # Counted under a digest of the key (never the key itself in a Redis key name), on the
    # premium tier's limits: an operator's dashboard polls more than a person generates.
    identity = "admin:" + hashlib.sha256(sent).hexdigest()[:32]
    decision, _ = await running.admission.limiter.hit(identity, premium=True)
    if not decision.allowed:
        raise rate_limited(decision, rate_limit_headers(decision))
