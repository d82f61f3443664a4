"""Saved threads: GET /api/threads, GET /api/threads/{id} and DELETE /api/threads/{id}, the
signed-in caller's own only (another account's id is a 404, never a 403: no id is confirmed)."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from threadr.errors import NotFound, ServiceUnavailable, ValidationFailed
from threadr.history.store import History

from .auth import iso_ms, signed_in
from .context import services
from .responses import JSON
from .schemas import SavedThreadDetail, SavedThreadList, SavedThreadSummary

B = TypeVar("B", bound=msgspec.Struct)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PRIVATE = {"Cache-Control": "no-store"}  # an account's own data: never kept on the way


def parse_limit(raw: str | None) -> int:
    """`?limit=` as a page size, 1..MAX_LIMIT, or a 422."""
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be a whole number from 1 to {MAX_LIMIT}.", code="invalid_limit"
        )
    return int(raw)


def _store(request: Request) -> History:
    store = services(request).history
    if store is None:  # a Services built without one (never by build_services)
        raise ServiceUnavailable("Saved threads are not set up on this server.")
    return store


def _dated(body: type[B], stored: msgspec.Struct) -> B:
    """`stored` (a record or its summary, `saved_at` in epoch ms) as the response body `body`,
    the same fields with `saved_at` in ISO 8601."""
    fields = msgspec.structs.asdict(stored)
    fields["saved_at"] = iso_ms(fields["saved_at"])
    return body(**fields)


def _not_found() -> NotFound:
    return NotFound("You have no saved thread with that id.", code="thread_not_found")


async def list_threads(request: Request) -> Response:
    """GET /api/threads?limit=N&cursor=C: the caller's saved threads, newest first."""
    session = await signed_in(request)
    limit = parse_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    found, next_cursor = await _store(request).page(session.user_id, cursor=cursor, limit=limit)
    threads = [_dated(SavedThreadSummary, s) for s in found]
    return JSON(SavedThreadList(threads=threads, next_cursor=next_cursor), headers=PRIVATE)


async def get_thread(request: Request) -> Response:
    """GET /api/threads/{id}: one of the caller's saved threads, with its tweets."""
    session = await signed_in(request)
    record = await _store(request).get(session.user_id, request.path_params["thread_id"])
    if record is None:
        raise _not_found()
    body = _dated(SavedThreadDetail, record)
    return JSON(body, headers=PRIVATE)


async def delete_thread(request: Request) -> Response:
    """DELETE /api/threads/{id}: forget one of the caller's saved threads (204)."""
    session = await signed_in(request)
    if not await _store(request).delete(session.user_id, request.path_params["thread_id"]):
        raise _not_found()
    return Response(status_code=204)


async def thread(request: Request) -> Response:
    """/api/threads/{id}: GET reads it, DELETE forgets it (one route, one path)."""
    if request.method == "DELETE":
        return await delete_thread(request)
    return await get_thread(request)
