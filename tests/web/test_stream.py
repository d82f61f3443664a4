"""POST /api/generate/stream in-process, read as it is sent (tests/web/sse.py): events in order,
each tweet before the writer has finished, hits at once, errors before the first tweet as
POST /api/generate answers them, and a client that leaves the others' generation alone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import fakeredis
import httpx
import httpx2
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import (
    SSE,
    MockOpenAI,
    account_settings,
    bearer,
    make_settings,
    running_asgi,
    sign_up,
    sse_event,
    sse_stream,
)
from threadr.cache import key_for
from threadr.errors import Unprocessable
from threadr.source import validate
from threadr.writing.options import DEFAULT_OPTIONS, Options
from threadr.writing.thread import TweetSink, Written
from threadr.writing.writer import ThreadWriter, tell

from .sse import Event, Streamed, post

ARTICLE = (
    "Streaming sends each part of an answer as soon as it is ready. A reader sees the first "
    "tweet of a thread while the model is still writing the rest, instead of staring at a "
    "spinner. The server must not buffer, the proxy must not buffer, and the client must read "
    "the body as it arrives rather than waiting for its end. "
) * 3
STREAM = "/api/generate/stream"


class StagedWriter(ThreadWriter):
    """The offline writer's thread, told in two stages: the first tweet at once, the rest when
    the test opens `gate`; or, with `fail`, that error raised once the first tweet is told."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__(None, max_tweets=25)
        self.gate = asyncio.Event()
        self.fail = fail
        self.calls = 0
        self.finished = asyncio.Event()

    async def write(
        self,
        text: str,
        title: str | None,
        options: Options = DEFAULT_OPTIONS,
        *,
        on_tweet: TweetSink | None = None,
    ) -> Written:
        self.calls += 1
        written = await super().write(text, title, options)
        await tell(on_tweet, written.tweets[:1])
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        await tell(on_tweet, written.tweets[1:])
        self.finished.set()
        return written


class GatedModel:
    """A model that streams its reply's first tweet, then waits for the test to open `gate`
    before it sends the rest (`finished`): its reply is not finished while the gate is shut."""

    def __init__(self, tweets: list[str]) -> None:
        reply = json.dumps(
            {"count": len(tweets), "tweets": [{"text": t, "quote": ""} for t in tweets]}
        )
        cut = reply.index("}") + 1  # the end of the first tweet's object
        self.head, self.tail = reply[:cut], reply[cut:]
        self.gate = asyncio.Event()
        self.finished = False

    async def reply(self, _: httpx2.Request) -> httpx2.Response:
        async def body() -> Any:
            for at in range(0, len(self.head), 16):
                yield sse_event({"content": self.head[at : at + 16]})
            await self.gate.wait()
            self.finished = True  # the rest of the reply goes now
            async for chunk in sse_stream(self.tail):
                yield chunk

        return httpx2.Response(200, headers=SSE, content=body())


def names(events: list[Event]) -> list[str]:
    return [e.name for e in events]


async def take(response: Streamed, n: int) -> list[Event]:
    """The next `n` events, which must come before the body ends."""
    events = []
    for _ in range(n):
        event = await response.event()
        assert event is not None, "the stream ended early"
        events.append(event)
    return events


async def test_each_tweet_is_sent_as_soon_as_it_is_told_then_done() -> None:
    writer = StagedWriter()
    async with running_asgi(make_settings()) as (app, services):
        services.pipeline.writer = writer
        response = await post(app, STREAM, {"text": ARTICLE})
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["x-cache"] == "MISS"
        assert response.headers["ratelimit"].startswith('"burst";r=9;')
        meta = await response.event()
        assert meta == Event(
            "meta", {"source_type": "text", "url": None, "title": None, "cached": False}
        )
        first = await response.event()
        # The writer is still held at its gate: the first tweet came before it finished.
        assert first is not None and first.name == "tweet" and not writer.finished.is_set()
        assert first.data["number"] == 1 and first.data["content"].startswith("1/")
        writer.gate.set()
        rest = await response.events()
    assert names(rest) == ["tweet"] * (len(rest) - 1) + ["done"]
    done = rest[-1].data
    assert done["thread"] == [first.data, *(e.data for e in rest[:-1])]
    assert (done["cached"], done["generator"], done["success"]) == (False, "offline", True)


async def test_the_first_tweet_arrives_before_the_model_has_finished_its_reply() -> None:
    model = GatedModel(
        [
            "Streaming sends each tweet as soon as it is ready.",
            "The server, the proxy and the client must all pass it on at once.",
            "That is the whole trick.",
        ]
    )
    mock = MockOpenAI(model.reply)
    async with running_asgi(make_settings(), openai_client=mock.client()) as (app, _):
        response = await post(app, STREAM, {"text": ARTICLE})
        meta, first = await take(response, 2)
        assert not model.finished and mock.calls == 1  # the model is still writing
        model.gate.set()
        rest = await response.events()
    assert meta.name == "meta" and first.name == "tweet"
    assert first.data["content"] == "1/3 Streaming sends each tweet as soon as it is ready."
    assert model.finished and names(rest) == ["tweet", "tweet", "done"]
    done = rest[-1].data
    assert done["generator"] == "openai" and done["thread"][0] == first.data
    assert [t["number"] for t in done["thread"]] == [1, 2, 3]


async def test_the_done_event_is_what_post_api_generate_answers() -> None:
    async with running_asgi(make_settings()) as (app, _):
        streamed = await post(app, STREAM, {"text": ARTICLE})
        done = (await streamed.events())[-1]
        again = await post(app, "/api/generate", {"text": ARTICLE})
        body = json.loads(await again.read())
    assert done.name == "done" and again.headers["x-cache"] == "HIT"
    assert {**done.data, "cached": True} == body


async def test_a_cache_hit_streams_every_event_at_once() -> None:
    async with running_asgi(make_settings()) as (app, _):
        await (await post(app, "/api/generate", {"text": ARTICLE})).read()
        response = await post(app, STREAM, {"text": ARTICLE})
        assert response.headers["x-cache"] == "HIT"
        first_chunk = await response.chunk()
        assert first_chunk is not None and response.finished  # one piece: nothing waited for
        events = await response.events()
    assert names(events)[0] == "meta" and names(events)[-1] == "done"
    assert events[0].data["cached"] is True and events[-1].data["cached"] is True
    assert [e.data for e in events[1:-1]] == events[-1].data["thread"]


async def test_a_url_names_its_normal_form_and_title_in_meta() -> None:
    page = (
        "<html><head><title>Streams</title></head><body><article><h1>Streams</h1>"
        f"<p>{ARTICLE}</p></article></body></html>"
    ).encode()

    class Site:
        async def fetch(self, url: str) -> Any:
            from threadr.articles.fetch import Page

            return Page(url=url, status=200, content_type="text/html", headers={}, body=page)

    class Reader:
        async def extract(self, body: bytes, **kw: Any) -> Any:
            from threadr.articles.extraction import extract

            return extract(body, **kw)

    async with running_asgi(make_settings(), fetcher=Site(), reader=Reader()) as (app, _):
        response = await post(app, STREAM, {"url": "HTTPS://Example.com/post?utm_source=x"})
        events = await response.events()
    meta = events[0]
    assert meta.data == {
        "source_type": "url",
        "url": "https://example.com/post",
        "title": "Streams",
        "cached": False,
    }
    assert events[-1].data["title"] == "Streams"


async def test_errors_before_the_first_tweet_are_json_with_their_status() -> None:
    settings = make_settings(RATE_LIMIT_BURST="2", FREE_TIER_DAILY_LIMIT="1")
    async with running_asgi(settings) as (app, _):
        empty = await post(app, STREAM, {"text": "   "})
        options = await post(app, STREAM, {"text": ARTICLE, "options": {"tone": "grumpy"}})
        await (await post(app, STREAM, {"text": ARTICLE})).read()  # the day's one generation
        quota = await post(app, STREAM, {"text": ARTICLE + " More."})
        limited = await post(app, STREAM, {"text": ARTICLE})  # the burst of 2 is used up
    for response, status, code in (
        (empty, 422, "empty_text"),
        (options, 422, "invalid_options"),
        (quota, 402, "quota_exceeded"),
        (limited, 429, "rate_limited"),
    ):
        body = (await response.read(), response.json())[1]
        assert (response.status, body["code"]) == (status, code), body
        assert response.headers["content-type"] == "application/json"
        assert isinstance(body["detail"], str)
    # Past the limiter, errors carry its headers, as POST /api/generate's do.
    assert "ratelimit" in quota.headers and "usage" in quota.json()
    assert int(limited.headers["retry-after"]) >= 1
    assert "ratelimit" not in empty.headers  # refused before the limiter


async def test_an_error_after_the_first_tweet_is_an_error_event() -> None:
    writer = StagedWriter(fail=Unprocessable("The writer gave up.", code="unprocessable"))
    async with running_asgi(make_settings()) as (app, services):
        services.pipeline.writer = writer
        response = await post(app, STREAM, {"text": ARTICLE})
        assert response.status == 200
        assert names(await take(response, 2)) == ["meta", "tweet"]
        writer.gate.set()
        rest = await response.events()
    assert rest == [Event("error", {"detail": "The writer gave up.", "code": "unprocessable"})]


async def test_an_unexpected_failure_is_an_internal_error_event() -> None:
    writer = StagedWriter(fail=RuntimeError("boom"))
    async with running_asgi(make_settings()) as (app, services):
        services.pipeline.writer = writer
        response = await post(app, STREAM, {"text": ARTICLE})
        writer.gate.set()
        events = await response.events()
    assert names(events) == ["meta", "tweet", "error"]
    assert events[-1].data["code"] == "internal_error"
    assert isinstance(events[-1].data["detail"], str)


async def test_a_client_that_leaves_does_not_cancel_the_generation_another_waits_for() -> None:
    writer = StagedWriter()
    async with running_asgi(make_settings()) as (app, services):
        services.pipeline.writer = writer
        leaving = await post(app, STREAM, {"text": ARTICLE})
        assert names(await take(leaving, 2)) == ["meta", "tweet"]
        staying = await post(app, STREAM, {"text": ARTICLE})  # joins: hears tweet 1 again
        joined = await take(staying, 2)
        assert names(joined) == ["meta", "tweet"]
        leaving.disconnect()
        await leaving.ended()  # its stream ended; the generation did not
        assert not writer.finished.is_set()
        writer.gate.set()
        rest = await staying.events()
        assert writer.finished.is_set() and writer.calls == 1
        key = key_for(validate(None, ARTICLE, services.settings))
        assert await services.cache.get(key) is not None  # the generation was stored
    assert names(rest)[-1] == "done"
    assert rest[-1].data["thread"][0] == joined[1].data


async def test_a_generation_whose_only_client_left_is_still_cached() -> None:
    writer = StagedWriter()
    async with running_asgi(make_settings()) as (app, services):
        services.pipeline.writer = writer
        response = await post(app, STREAM, {"text": ARTICLE})
        await take(response, 2)
        response.disconnect()
        await response.ended()
        writer.gate.set()
        # Joins the generation still under way, or hits its entry: either way, not a new one.
        again = await post(app, STREAM, {"text": ARTICLE})
        events = await again.events()
        key = key_for(validate(None, ARTICLE, services.settings))
        assert await services.cache.get(key) is not None
    assert names(events)[-1] == "done" and writer.calls == 1 and writer.finished.is_set()


async def test_a_signed_in_stream_is_saved_to_history_even_when_its_client_left() -> None:
    writer = StagedWriter()
    redis = FakeRedis(server=fakeredis.FakeServer())
    async with (
        running_asgi(account_settings(), redis=redis) as (app, services),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        services.pipeline.writer = writer
        token = (await sign_up(client, "ann@example.com"))["access_token"]
        response = await post(app, STREAM, {"text": ARTICLE}, bearer(token))
        first = (await take(response, 2))[1]
        response.disconnect()
        writer.gate.set()  # the generation ends after its client left ...
        await response.ended()  # ... and the request's last act is the save
        saved = (await client.get("/api/threads", headers=bearer(token))).json()["threads"]
    assert [t["preview"] for t in saved] == [first.data["content"]]
