"""POST /api/generate/stream: the thread of POST /api/generate as server-sent events — `meta`,
one `tweet` per tweet as soon as the writer has it final, then `done` (the body POST
/api/generate answers) or `error` (its error body).

The way in is POST /api/generate's own (web/generate.py: `admit`): the same body, limiter, cache
read, quota and coalescing. The response starts with the first tweet, so that whatever fails
before one is told — a 429, the quota's 402, a page that cannot be fetched or read, a text with
nothing to make a thread of — is answered as POST /api/generate answers it, status and all.
A client that goes away stops only its own stream: the generation is the pipeline's shared,
shielded task, and goes on for the others waiting on it and for the cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from threadr.cache import CacheEntry
from threadr.errors import ThreadrError
from threadr.generate import Started
from threadr.services import Services
from threadr.writing.thread import Tweet

from .context import services as services_of
from .generate import Admitted, admit, quota_account, remember, thread_response
from .schemas import ErrorBody, StreamMeta

log = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
# Every answer of a stream: never stored, and never held back by a buffering proxy (nginx reads
# X-Accel-Buffering; others pass on what they get when nothing is compressed).
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_END = object()  # put on a feed when its generation has ended
_encode = msgspec.json.Encoder().encode


def event(name: str, data: Any) -> bytes:
    """One server-sent event. JSON has no raw line breaks, so `data` is always one line."""
    return b"event: %s\ndata: %s\n\n" % (name.encode(), _encode(data))


class Feed:
    """What a generation tells one stream: the title when its writer begins, then its tweets,
    queued in order, and the end. The pipeline's relay calls `started` and `tweet` from the
    generation's task (a caller that joins one late hears what was told before it came)."""

    def __init__(self) -> None:
        self.title: str | None = None
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    def started(self, started: Started) -> None:
        self.title = started.title

    def tweet(self, tweet: Tweet) -> None:
        self.queue.put_nowait(tweet)

    def end(self, generation: asyncio.Future[Any]) -> None:
        if not generation.cancelled():
            generation.exception()  # retrieved: a client that went away reads no result
        self.queue.put_nowait(_END)


async def generate_stream(request: Request) -> Response:
    """POST /api/generate/stream."""
    services = services_of(request)
    admitted = await admit(request.scope, request.receive, services)
    headers = admitted.headers | STREAM_HEADERS
    entry = admitted.entry
    if entry is not None:  # a hit: every event at once
        headers["X-Cache"] = "HIT"
        body = _whole(admitted, entry, cached=True)
        background = _remember(services, admitted)
        return Response(body, headers=headers, media_type=MEDIA_TYPE, background=background)
    feed = Feed()
    generation = asyncio.ensure_future(
        services.pipeline.generate(
            admitted.source,
            quota_account(services, admitted),
            admitted.options,
            on_tweet=feed.tweet,
            on_start=feed.started,
        )
    )
    generation.add_done_callback(feed.end)
    background = _remember(services, admitted, generation)
    first = await feed.queue.get()
    if first is _END:
        try:
            entry = generation.result()
        except ThreadrError as exc:
            exc.headers.update(admitted.headers)  # as POST /api/generate: the limiter's headers
            raise
        # Told nothing: another instance's thread (its lease), or another URL's of the article.
        headers["X-Cache"] = "MISS"
        body = _whole(admitted, entry, cached=False)
        return Response(body, headers=headers, media_type=MEDIA_TYPE, background=background)
    assert isinstance(first, Tweet)
    headers["X-Cache"] = "MISS"
    return StreamingResponse(
        _told(services, admitted, feed, first, generation),
        headers=headers,
        media_type=MEDIA_TYPE,
        background=background,
    )


async def _told(
    services: Services,
    admitted: Admitted,
    feed: Feed,
    first: Tweet,
    generation: asyncio.Future[CacheEntry],
) -> AsyncIterator[bytes]:
    """The events of a generation under way, each tweet as it is told. A client that goes away
    cancels this, never the generation: `generation` only waits on the pipeline's shielded
    task, and it is left running so that the history save still finds its thread."""
    yield _meta(admitted, feed.title) + event("tweet", first)
    while (item := await feed.queue.get()) is not _END:
        yield event("tweet", item)
    try:
        entry = generation.result()
    except ThreadrError as exc:
        services.analytics.error(exc.code)
        yield event("error", ErrorBody(exc.detail, exc.code, **exc.extra))
    except Exception:
        log.exception("A streamed generation failed")
        services.analytics.error("internal_error")
        detail = "Something went wrong on our side; please try again."
        yield event("error", ErrorBody(detail, "internal_error"))
    else:
        yield event("done", thread_response(entry, cached=False))


def _meta(admitted: Admitted, title: str | None, *, cached: bool = False) -> bytes:
    source = admitted.source
    url = source.value if source.kind == "url" else None
    return event("meta", StreamMeta(source.kind, url, title, cached))


def _whole(admitted: Admitted, entry: CacheEntry, *, cached: bool) -> bytes:
    """A finished thread's events, at once: meta, each tweet, done."""
    tweets = [event("tweet", tweet) for tweet in entry.thread]
    done = event("done", thread_response(entry, cached))
    return b"".join([_meta(admitted, entry.title, cached=cached), *tweets, done])


def _remember(
    services: Services, admitted: Admitted, generation: asyncio.Future[CacheEntry] | None = None
) -> BackgroundTask | None:
    """The save to a signed-in caller's history once the response has ended — or, when the
    client went away first, once the generation has (POST /api/generate saves it then too)."""
    if admitted.session is None or services.history is None:
        return None

    async def save() -> None:
        entry = admitted.entry
        if entry is None:
            assert generation is not None
            try:
                entry = await generation
            except Exception:
                return  # failed: nothing to save, and the stream said why
        await remember(services, admitted, entry)

    return BackgroundTask(save)
