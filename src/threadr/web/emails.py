"""Email capture: POST /api/subscribe, and the admin's GET /api/emails/stats,
DELETE /api/emails and GET /api/emails/export (CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from threadr.errors import ServiceUnavailable
from threadr.subscribers.address import normalise
from threadr.subscribers.store import Subscriber, Subscribers, source_label

from .admin import require_admin
from .bodies import decode_body, read_body
from .context import services
from .identity import client_host
from .limits import rate_limit_headers, rate_limited
from .responses import JSON
from .schemas import EmailRemoved, RemoveEmailRequest, SubscribeRequest, SubscribeResponse

_decode_subscribe = msgspec.json.Decoder(SubscribeRequest)
_decode_remove = msgspec.json.Decoder(RemoveEmailRequest)
# One answer for a new address and a known one: the response never says which (no enumeration).
SUBSCRIBED = SubscribeResponse(message="Thanks! This address is on the list.")
# Cells a spreadsheet would run as a formula (OWASP "CSV injection"); an address may start so.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")  # fullwidth too


def _store(request: Request) -> Subscribers:
    store = services(request).subscribers
    if store is None:  # a Services built without one (never by build_services)
        raise ServiceUnavailable("Email subscriptions are not set up on this server.")
    return store


def parse_subscription(body: bytes) -> tuple[str, str]:
    """The address and source of a subscription's body, in their stored forms; a 4xx
    (ThreadrError) for anything else."""
    wanted = decode_body(body, _decode_subscribe)
    return normalise(wanted.email), source_label(wanted.source)


async def subscribe(request: Request) -> Response:
    """POST /api/subscribe `{"email", "source"?}`: the address stored once, normalised."""
    running = services(request)
    settings = running.settings
    body = await read_body(request.scope, request.receive, settings.max_body_bytes)
    email, source = parse_subscription(body)
    who = "subscribe:" + client_host(request.scope, settings.rate_limit_ipv6_prefix)
    decision, _ = await running.admission.limiter.hit(who)
    headers = rate_limit_headers(decision)
    if not decision.allowed:
        raise rate_limited(decision, headers)
    try:
        new = await _store(request).add(email, source)
    except ServiceUnavailable as exc:
        exc.headers.update(headers)
        raise
    if new:
        running.analytics.subscription()
    return JSON(SUBSCRIBED, headers=headers)


async def email_stats(request: Request) -> Response:
    """GET /api/emails/stats (admin): totals from the index and the counters."""
    await require_admin(request)
    return JSON(await _store(request).stats())


async def remove_email(request: Request) -> Response:
    """DELETE /api/emails `{"email"}` (admin): forget an address."""
    await require_admin(request)
    body = await read_body(
        request.scope, request.receive, services(request).settings.max_body_bytes
    )
    email = normalise(decode_body(body, _decode_remove).email)
    return JSON(EmailRemoved(removed=await _store(request).remove(email)))


async def export_emails(request: Request) -> Response:
    """GET /api/emails/export (admin): every address as CSV, read from Redis a page at a time
    while it is sent. The first page is read before the answer starts, so that Redis being
    down is a clean 503; a failure after that aborts the transfer (the client sees a cut
    response, never a short list that looks complete)."""
    await require_admin(request)
    pages = _store(request).pages()
    first: list[Subscriber] = await anext(pages, [])

    async def rows() -> AsyncIterator[str]:
        yield _csv([("email", "subscribed_at", "source")])
        yield _csv(first)
        async for page in pages:
            yield _csv(page)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="subscribers.csv"',
            "Cache-Control": "no-store",
        },
    )


def _csv(rows: list[Subscriber] | list[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(tuple(_cell(value) for value in row) for row in rows)
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value
