"""POST /api/rewrite in-process: a tweet numbered for its place within 280, grounded in the
article named, OpenAI's reply read as hostile input, the 422s, the rate limit and the quarter
of a generation it costs."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.factories import MockOpenAI, chat_completion, make_settings, running_app
from threadr.articles.extraction import Article, extract
from threadr.articles.fetch import Page
from threadr.errors import FetchFailed
from threadr.writing.twittertext import has_emoji, weighted_length

ARTICLE = (
    "Caching is the art of remembering answers. A cache keeps the result of expensive work so "
    "the next request gets it at once. Good caches expire entries, bound their memory and never "
    "serve one user's data to another. The hard part is deciding when a stored answer stops "
    "being true. Redis is a popular choice for a shared cache because it is fast and simple. "
    "A key that ignores tracking parameters lets every share of an article hit one entry. "
    "Eviction policies such as LRU decide what to forget when the memory runs out."
)
THREAD = [
    "1/3 Caching is the art of remembering answers.",
    "2/3 A cache keeps the result of expensive work so the next request gets it at once.",
    "3/3 That's the gist. Share it if it helped.",
]


def rewrite_reply(text: str, quote: str = "") -> tuple[int, dict[str, Any]]:
    body = {"count": 1, "tweets": [{"text": text, "quote": quote}]}
    return 200, chat_completion(json.dumps(body))


async def rewrite(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/rewrite", json={"thread": THREAD, "index": 1, **body})


async def test_offline_it_takes_what_the_article_says_and_the_thread_does_not() -> None:
    async with running_app(make_settings()) as client:
        made = await client.post("/api/generate", json={"text": ARTICLE, "options": {"tweets": 3}})
        thread = made.json()["thread"]
        response = await client.post(
            "/api/rewrite",
            json={"thread": thread, "index": 1, "text": ARTICLE, "options": {"tweets": 3}},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    tweet = body["tweet"]
    assert (body["index"], body["generator"], body["grounded"]) == (1, "offline", True)
    assert (tweet["number"], tweet["total"]) == (2, 3) and tweet["content"].startswith("2/3 ")
    assert tweet["character_count"] == weighted_length(tweet["content"]) <= 280
    passage = ARTICLE[tweet["source"]["start"] : tweet["source"]["end"]]
    assert passage and passage in tweet["content"]
    assert all(passage not in other["content"] for other in thread)
    assert "ratelimit" in response.headers


async def test_offline_with_the_whole_article_said_it_refits_the_tweet() -> None:
    sentences = ARTICLE.replace(". ", ".\n").splitlines()
    said = [f"{k}/{len(sentences)} {s}" for k, s in enumerate(sentences, 1)]
    async with running_app(make_settings()) as client:
        response = await client.post(
            "/api/rewrite", json={"thread": said, "index": 2, "text": ARTICLE}
        )
    tweet = response.json()["tweet"]
    assert tweet["content"] == said[2] and tweet["source"] is None


async def test_the_tweet_takes_the_threads_numbering_and_fits_280() -> None:
    long_thread = [f"Tweet {i} of the thread." for i in range(1, 13)]
    long_thread[9] = "A tweet edited by hand until it grew far too long for X. " * 12
    options = {"numbering": "(1/n)", "numbering_position": "end", "emoji": False}
    async with running_app(make_settings()) as client:
        response = await client.post(
            "/api/rewrite", json={"thread": long_thread, "index": 9, "options": options}
        )
    tweet = response.json()["tweet"]
    assert (tweet["number"], tweet["total"]) == (10, 12)
    assert tweet["content"].endswith(" (10/12)") and "…" in tweet["content"]
    assert tweet["character_count"] == weighted_length(tweet["content"]) <= 280
    assert response.json()["grounded"] is False and tweet["source"] is None


async def test_without_emoji_the_new_tweet_has_none() -> None:
    thread = ["1/2 Caches remember answers 🚀🔥", "2/2 Share it 🔁"]
    async with running_app(make_settings()) as client:
        response = await client.post(
            "/api/rewrite", json={"thread": thread, "index": 0, "options": {"emoji": False}}
        )
    content = response.json()["tweet"]["content"]
    assert content == "1/2 Caches remember answers" and not has_emoji(content)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"thread": THREAD, "index": 3}, "invalid_index"),
        ({"thread": THREAD, "index": -1}, "invalid_index"),
        ({"thread": [], "index": 0}, "empty_thread"),
        ({"thread": ["", " …"], "index": 0}, "empty_thread"),
        ({"thread": ["", "A tweet."], "index": 0}, "empty_tweet"),
        ({"thread": ["A tweet."] * 26, "index": 0}, "thread_too_long"),
        ({"thread": ["x" * 1121, "A tweet."], "index": 1}, "tweet_too_long"),
        ({"thread": THREAD, "index": 0, "instruction": "y" * 281}, "instruction_too_long"),
        ({"thread": THREAD, "index": 0, "options": {"tone": "grumpy"}}, "invalid_options"),
        ({"thread": THREAD, "index": 0, "options": {"format": "long_post"}}, "invalid_options"),
        ({"thread": THREAD, "index": 0, "url": "https://a.example/", "text": "x"}, "url_or_text"),
        ({"thread": THREAD, "index": "1"}, "validation_error"),
        ({"thread": THREAD}, "validation_error"),
        ({"thread": [{"number": 1}], "index": 0}, "validation_error"),
        ({"thread": THREAD, "index": 0, "extra": True}, "validation_error"),
    ],
)
async def test_what_cannot_be_rewritten_is_a_clear_422(body: dict[str, Any], code: str) -> None:
    async with running_app(make_settings()) as client:
        response = await client.post("/api/rewrite", json=body)
    assert (response.status_code, response.json()["code"]) == (422, code), response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.endswith(".")
    assert "ratelimit" not in response.headers  # refused before the limiter counted it


async def test_openai_is_asked_with_the_article_thread_and_instruction() -> None:
    quote = "A cache keeps the result of expensive work"
    mock = MockOpenAI(rewrite_reply("Caches keep expensive work, so nobody waits twice.", quote))
    async with running_app(make_settings(), openai_client=mock.client()) as client:
        response = await rewrite(client, text=ARTICLE, instruction="Make it punchier.")
    body = response.json()
    assert body["generator"] == "openai" and body["grounded"] is True
    assert body["tweet"]["content"] == "2/3 Caches keep expensive work, so nobody waits twice."
    span = body["tweet"]["source"]
    assert ARTICLE[span["start"] : span["end"]] == quote
    asked = mock.requests[0]["messages"][1]["content"]
    assert ARTICLE in asked and THREAD[2][4:] in asked and "Make it punchier." in asked
    assert "Rewrite tweet 2 of 3" in asked
    assert mock.requests[0]["max_completion_tokens"] <= 400


@pytest.mark.parametrize(
    "reply",
    [
        "2/3 Sure! Here's a punchier take:\n\nCaches keep expensive work, so nobody waits twice.",
        json.dumps({"count": 1, "tweets": [{"text": "Tweet 2/3: " + "Caches keep work. " * 60}]}),
        "x" * 50_000,
    ],
)
async def test_a_hostile_reply_is_cleaned_numbered_and_fitted(reply: str) -> None:
    mock = MockOpenAI((200, chat_completion(reply)))
    async with running_app(make_settings(), openai_client=mock.client()) as client:
        response = await rewrite(client)
    tweet = response.json()["tweet"]
    assert response.status_code == 200
    assert tweet["content"].startswith("2/3 ") and not tweet["content"].startswith("2/3 2/3")
    assert "Sure" not in tweet["content"] and "Tweet 2/3" not in tweet["content"]
    assert tweet["character_count"] == weighted_length(tweet["content"]) <= 280


@pytest.mark.parametrize(
    "reply",
    [(500, {"error": {"message": "down"}}), (200, chat_completion("```\n```")), (200, {})],
)
async def test_when_openai_fails_the_tweet_is_written_offline(reply: Any) -> None:
    mock = MockOpenAI(reply)
    async with running_app(make_settings(), openai_client=mock.client()) as client:
        response = await rewrite(client, text=ARTICLE)
    body = response.json()
    assert response.status_code == 200 and body["generator"] == "offline"
    assert body["tweet"]["source"] is not None  # the article's passage
    assert mock.calls == 1  # one attempt: someone is waiting for this tweet


async def test_a_rewrite_costs_a_quarter_of_a_generation() -> None:
    async with running_app(make_settings(FREE_TIER_DAILY_LIMIT="1")) as client:
        statuses = [(await rewrite(client)).status_code for _ in range(4)]
        usage = (await client.get("/api/usage/status")).json()
        refused = await rewrite(client)
    assert statuses == [200] * 4  # the day's one generation paid for four rewrites
    assert usage["daily_usage"] == 1
    assert refused.status_code == 402 and refused.json()["code"] == "quota_exceeded"
    assert refused.json()["usage"]["daily_remaining"] == 0 and "ratelimit" in refused.headers


async def test_rewrites_are_rate_limited_as_generations_are() -> None:
    async with running_app(make_settings(RATE_LIMIT_BURST="1")) as client:
        first = await rewrite(client)
        second = await rewrite(client)
        generate = await client.post("/api/generate", json={"text": ARTICLE})
    assert first.status_code == 200 and first.headers["ratelimit"].startswith('"burst";r=0')
    assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
    assert generate.status_code == 429  # one budget for both


class Site:
    """One article page, or a failure."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.fetches = fail, 0

    async def fetch(self, url: str) -> Page:
        self.fetches += 1
        if self.fail:
            raise FetchFailed("The site answered 500.", extra={"upstream_status": 500})
        html = f"<html><head><title>Caching</title></head><body><article><p>{ARTICLE}</p>"
        body = (html + "</article></body></html>").encode()
        return Page(url=url, status=200, content_type="text/html", headers={}, body=body)


class Reader:
    async def extract(self, body: bytes, **kw: Any) -> Article:
        return extract(body, **kw)


async def test_a_url_is_fetched_again_to_ground_the_tweet() -> None:
    site = Site()
    async with running_app(make_settings(), fetcher=site, reader=Reader()) as client:
        response = await rewrite(client, url="https://blog.example/caching?utm_source=x")
    tweet = response.json()["tweet"]
    assert response.json()["grounded"] is True and site.fetches == 1
    assert tweet["source"] is not None and tweet["content"].startswith("2/3 ")


async def test_an_article_that_cannot_be_read_is_its_error_and_costs_nothing() -> None:
    settings = make_settings(FREE_TIER_DAILY_LIMIT="1")
    async with running_app(settings, fetcher=Site(fail=True), reader=Reader()) as client:
        response = await rewrite(client, url="https://blog.example/caching")
        usage = (await client.get("/api/usage/status")).json()
    assert (response.status_code, response.json()["code"]) == (502, "fetch_failed")
    assert response.json()["upstream_status"] == 500 and "ratelimit" in response.headers
    assert usage["daily_usage"] == 0  # taken back
