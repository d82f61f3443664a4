"""POST /api/generate: a numbered thread from `{"url"}` or `{"text"}`."""

from __future__ import annotations

import logging

import msgspec
from starlette.types import Receive, Scope, Send

from threadr.cache import key_for
from threadr.errors import ServiceUnavailable, ThreadrError
from threadr.limits.admission import QuotaAccount
from threadr.services import Services
from threadr.source import validate

from .auth import bearer_token
from .bodies import decode_body, read_body
from .identity import ACCOUNT, IDENTITY_KIND, client_host
from .limits import rate_limit_headers, rate_limited
from .responses import encode, send_json
from .schemas import GenerateRequest, ThreadResponse

log = logging.getLogger(__name__)
_decode_generate = msgspec.json.Decoder(GenerateRequest)


class Generate:
    """Plain ASGI, not a Request → Response handler (Starlette's Route takes a class instance as
    an ASGI app): a deliberate exception to the house style, as are the health probes, because
    a cache hit is the hot path and Starlette's request and response objects cost more than
    the rest of it (docs/performance.md). Errors raised here reach the app's exception handlers
    as from any route: nothing has been sent before they are raised.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["state"]["threadr"]
        settings = services.settings
        body = await read_body(scope, receive, settings.max_body_bytes)
        request = decode_body(body, _decode_generate)
        source = validate(request.url, request.text, settings)
        key = key_for(source)
        # Who: the account when signed in (its session, premium, rate limit and the cache read
        # in one Redis call), else the address; an anonymous request pays one pass over its
        # headers for this.
        token = bearer_token(scope)
        session, premium = None, False
        if token is None:
            who = client_host(scope, settings.rate_limit_ipv6_prefix)
            decision, entry = await services.admission.enter(who, key)
        else:
            admitted = await services.admission.enter_account(token, key)
            session, premium, decision, entry = admitted
            who = "user:" + session.user_id
            scope["state"][IDENTITY_KIND] = ACCOUNT
        analytics = services.analytics
        if analytics.enabled:
            analytics.users.add(who)  # unique users (HyperLogLog at the next flush)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            raise rate_limited(decision, headers)
        cached = entry is not None  # a hit costs no quota
        if entry is None:
            try:
                account = QuotaAccount(services.quota, who, premium=premium)
                entry = await services.pipeline.generate(source, account)
            except ThreadrError as exc:
                exc.headers.update(headers)  # errors after the limiter carry its headers too
                raise
        response = ThreadResponse(
            thread=entry.thread,
            source_type=entry.source_type,
            title=entry.title,
            cached=cached,
            generator=entry.generator,
        )
        headers["X-Cache"] = "HIT" if cached else "MISS"
        await send_json(send, encode(response), headers)
        if session is not None and services.history is not None:
            # Saved to the account's history (hit or miss: the user generated it) once the
            # response is sent, so the caller never waits for it; a failure is only logged.
            url = source.value if source.kind == "url" else None
            try:
                await services.history.save(
                    session.user_id,
                    entry,
                    key=key,
                    url=url,
                    premium=premium,
                    newest=session.newest_saved,
                )
            except ServiceUnavailable:
                log.warning("A generated thread was not saved to its account's history")
