"""POST /api/generate: a numbered thread from `{"url"}` or `{"text"}`; and the way in that
POST /api/generate/stream (web/stream.py) shares with it: reading the body, who asks, the rate
limiter and the cache read (`admit`), the answer's body and the save to the account's history."""

from __future__ import annotations

import logging

import msgspec
from starlette.types import Receive, Scope, Send

from threadr.accounts.sessions import Session
from threadr.cache import CacheEntry, key_for
from threadr.errors import ServiceUnavailable, ThreadrError
from threadr.limits.admission import QuotaAccount
from threadr.services import Services
from threadr.source import Source, validate
from threadr.writing.options import Options, parse_options

from .auth import bearer_token
from .bodies import decode_body, read_body
from .identity import ACCOUNT, IDENTITY_KIND, client_host
from .limits import rate_limit_headers, rate_limited
from .responses import encode, send_json
from .schemas import GenerateRequest, ThreadResponse

log = logging.getLogger(__name__)
_decode_generate = msgspec.json.Decoder(GenerateRequest)


class Admitted(msgspec.Struct):
    """A generate request let in by the limiter: what it asks for, who asks, the limiter's
    headers (every answer from here on carries them) and the cache's entry (None: a miss).
    A Struct: built in C, one call less per cache hit than a dataclass."""

    source: Source
    options: Options
    key: str
    who: str
    premium: bool
    session: Session | None
    headers: dict[str, str]
    entry: CacheEntry | None


async def admit(scope: Scope, receive: Receive, services: Services) -> Admitted:
    """Read and check a generate body, find who asks, pass the rate limiter and read the cache
    (one Redis round trip). Raises what the app's handlers answer: 400/413/415/422 for the
    body, 401 for a token that is not live, 429 (with the limiter's headers)."""
    settings = services.settings
    body = await read_body(scope, receive, settings.max_body_bytes)
    request = decode_body(body, _decode_generate)
    source = validate(request.url, request.text, settings)
    options = parse_options(request.options)
    key = key_for(source, options)
    # Who: the account when signed in (its session, premium, rate limit and the cache read
    # in one Redis call), else the address; an anonymous request pays one pass over its
    # headers for this.
    token = bearer_token(scope)
    session, premium = None, False
    if token is None:
        who = client_host(scope, settings.rate_limit_ipv6_prefix)
        decision, entry = await services.admission.enter(who, key)
    else:
        session, premium, decision, entry = await services.admission.enter_account(token, key)
        who = "user:" + session.user_id
        scope["state"][IDENTITY_KIND] = ACCOUNT
    analytics = services.analytics
    if analytics.enabled:
        analytics.users.add(who)  # unique users (HyperLogLog at the next flush)
    headers = rate_limit_headers(decision)
    if not decision.allowed:
        raise rate_limited(decision, headers)
    return Admitted(source, options, key, who, premium, session, headers, entry)


def quota_account(services: Services, admitted: Admitted) -> QuotaAccount:
    """Who pays for a miss's generation: the caller's free-tier quota (none when premium)."""
    return QuotaAccount(services.quota, admitted.who, premium=admitted.premium)


def thread_response(entry: CacheEntry, cached: bool) -> ThreadResponse:
    """The body of POST /api/generate (and of the stream's `done` event)."""
    return ThreadResponse(
        thread=entry.thread,
        source_type=entry.source_type,
        title=entry.title,
        cached=cached,
        generator=entry.generator,
        warnings=entry.warnings,
    )


async def remember(services: Services, admitted: Admitted, entry: CacheEntry) -> None:
    """Save the thread to a signed-in caller's history (hit or miss: the user generated it).
    Called once the answer is sent, so the caller never waits for it; a failure is logged."""
    session = admitted.session
    if session is None or services.history is None:
        return
    source = admitted.source
    url = source.value if source.kind == "url" else None
    try:
        await services.history.save(
            session.user_id,
            entry,
            key=admitted.key,
            url=url,
            premium=admitted.premium,
            newest=session.newest_saved,
        )
    except ServiceUnavailable:
        log.warning("A generated thread was not saved to its account's history")


class Generate:
    """Plain ASGI, not a Request → Response handler (Starlette's Route takes a class instance as
    an ASGI app): a deliberate exception to the house style, as are the health probes, because
    a cache hit is the hot path and Starlette's request and response objects cost more than
    the rest of it (docs/performance.md). Errors raised here reach the app's exception handlers
    as from any route: nothing has been sent before they are raised.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["state"]["threadr"]
        admitted = await admit(scope, receive, services)
        headers = admitted.headers
        entry = admitted.entry
        cached = entry is not None  # a hit costs no quota
        if entry is None:
            try:
                entry = await services.pipeline.generate(
                    admitted.source, quota_account(services, admitted), admitted.options
                )
            except ThreadrError as exc:
                exc.headers.update(headers)  # errors after the limiter carry its headers too
                raise
        headers["X-Cache"] = "HIT" if cached else "MISS"
        await send_json(send, encode(thread_response(entry, cached)), headers)
        await remember(services, admitted, entry)
