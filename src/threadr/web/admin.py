"""Admin endpoints' gate: an `X-API-Key` from API_KEYS, compared in constant time, and a rate
limit per key. Closed when API_KEYS is empty: an operator who set no key gets no admin door."""

from __future__ import annotations

import hmac
import logging

from starlette.requests import Request

from threadr.errors import Unauthorized

from .context import services
from .identity import ADMIN, IDENTITY_KIND, client_host
from .limits import rate_limit_headers, rate_limited

log = logging.getLogger(__name__)


async def require_admin(request: Request) -> None:
    """Raise Unauthorized (401) unless the request carries a valid admin key, and RateLimited
    (429) when that key, or a client sending wrong keys, has made more calls than allowed."""
    running = services(request)
    settings, limiter = running.settings, running.admission.limiter
    keys = settings.api_keys
    if not keys:
        raise Unauthorized(
            "Admin endpoints are closed on this server (API_KEYS is not set).", code="admin_closed"
        )
    sent = request.headers.get("x-api-key", "").encode()
    # Every key is compared, whichever matches, so the time taken says nothing of which did.
    matched = -1
    for index, key in enumerate(keys):
        if hmac.compare_digest(sent, key.encode()):
            matched = index
    if matched < 0:
        # Guesses are counted per client on the ordinary limits: a key cannot be brute-forced.
        who = client_host(request.scope, settings.rate_limit_ipv6_prefix)
        log.warning("admin call refused: %s key from %s", "wrong" if sent else "no", who)
        decision, _ = await limiter.hit("admin-refused:" + who)
        if not decision.allowed:
            raise rate_limited(decision, rate_limit_headers(decision))
        if not sent:
            raise Unauthorized("Send an admin key in the X-API-Key header.")
        raise Unauthorized("The X-API-Key header does not hold a valid admin key.")
    # Counted under the key's place in API_KEYS, never the key or a hash of it (a Redis key
    # name is visible to anyone who can list keys), on the premium tier's limits: an
    # operator's dashboard polls more than a person generates.
    request.scope["state"][IDENTITY_KIND] = ADMIN
    decision, _ = await limiter.hit(f"admin:{matched}", premium=True)
    if not decision.allowed:
        raise rate_limited(decision, rate_limit_headers(decision))
