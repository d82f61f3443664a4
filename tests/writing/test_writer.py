import asyncio
import json
import re
from typing import Any

import httpx2
import pytest

from tests.factories import MockOpenAI, chat_completion, tweets_reply
from threadr.errors import Unprocessable
from threadr.writing.openai_writer import OpenAIWriter, parse_reply
from threadr.writing.twittertext import weighted_length
from threadr.writing.writer import ThreadWriter

ARTICLE = (
    "Redis is an in-memory data store. It is used as a cache, a message broker and a database. "
    "Its data structures include strings, hashes, lists, sets and sorted sets. "
) * 5


async def no_sleep(_: float) -> None:
    return None


def writer(mock: MockOpenAI, budget: float = 5.0) -> ThreadWriter:
    ai = OpenAIWriter(mock.client(), model="gpt-test", budget=budget, max_tweets=25, sleep=no_sleep)
    return ThreadWriter(ai, max_tweets=25)


def assert_numbered(thread: list[Any]) -> None:
    n = len(thread)
    assert 1 <= n <= 25
    for i, tweet in enumerate(thread, 1):
        assert (tweet.number, tweet.total) == (i, n)
        assert tweet.content.startswith(f"{i}/{n} ")
        assert tweet.character_count == weighted_length(tweet.content) <= 280


async def test_success_uses_the_model_and_numbers_server_side() -> None:
    mock = MockOpenAI(tweets_reply("1/3 Redis is fast.", "It caches.", "Try it!"))
    written = await writer(mock).write(ARTICLE, "Redis")
    thread, generator = written.tweets, written.generator
    assert generator == "openai"
    assert [t.content for t in thread] == ["1/3 Redis is fast.", "2/3 It caches.", "3/3 Try it!"]
    assert_numbered(thread)
    sent = mock.requests[0]
    assert sent["model"] == "gpt-test"
    assert sent["response_format"]["type"] == "json_schema"
    assert "Title: Redis" in sent["messages"][1]["content"]


async def test_429_then_success_retries() -> None:
    mock = MockOpenAI((429, {"error": {"message": "slow down"}}), tweets_reply("A", "B"))
    written = await writer(mock).write(ARTICLE, None)
    thread, generator = written.tweets, written.generator
    assert generator == "openai" and mock.calls == 2
    assert_numbered(thread)


async def test_persistent_500_falls_back_to_offline() -> None:
    mock = MockOpenAI((500, {"error": {"message": "boom"}}))
    written = await writer(mock, budget=2.0).write(ARTICLE, "Redis")
    thread, generator = written.tweets, written.generator
    assert generator == "offline" and mock.calls >= 2
    assert_numbered(thread)


async def test_timeout_falls_back_to_offline_within_the_budget() -> None:
    async def hang(_: httpx2.Request) -> Any:
        await asyncio.Event().wait()

    mock = MockOpenAI(hang)
    loop = asyncio.get_running_loop()
    started = loop.time()
    written = await writer(mock, budget=0.3).write(ARTICLE, None)
    thread, generator = written.tweets, written.generator
    assert generator == "offline"
    assert loop.time() - started < 2
    assert_numbered(thread)


async def test_transport_timeout_is_retried_then_falls_back() -> None:
    mock = MockOpenAI(httpx2.ReadTimeout("slow"))
    generator = (await writer(mock, budget=1.0).write(ARTICLE, None)).generator
    assert generator == "offline" and mock.calls >= 2


async def test_auth_error_falls_back_without_retrying() -> None:
    mock = MockOpenAI((401, {"error": {"message": "bad key"}}))
    generator = (await writer(mock).write(ARTICLE, None)).generator
    assert generator == "offline" and mock.calls == 1


async def test_non_json_reply_is_recovered_without_the_preamble() -> None:
    content = "Here is your thread:\n\n1/3 Redis is fast.\n\n2/3 It caches.\n\n3/3 Try it!"
    mock = MockOpenAI((200, chat_completion(content)))
    written = await writer(mock).write(ARTICLE, None)
    thread, generator = written.tweets, written.generator
    assert generator == "openai"
    assert [t.content for t in thread] == ["1/3 Redis is fast.", "2/3 It caches.", "3/3 Try it!"]


async def test_empty_reply_falls_back() -> None:
    mock = MockOpenAI(tweets_reply())
    generator = (await writer(mock, budget=1.0).write(ARTICLE, None)).generator
    assert generator == "offline"


def test_parse_reply_prefers_json() -> None:
    assert parse_reply(json.dumps({"tweets": ["a", "b"]})) == ["a", "b"]
    assert parse_reply(None) == []


async def test_every_tweet_fits_over_the_whole_dataset(dataset: dict[str, Any]) -> None:
    """OpenAI mocked to answer with whole paragraphs (too long, pre-numbered): still <= 280."""

    async def paragraphs(request: httpx2.Request) -> Any:
        prompt = json.loads(request.content)["messages"][1]["content"]
        parts = [p for p in re.split(r"\n\s*\n", prompt) if p.strip()][1:]
        tweets = [f"{i}/{len(parts)} {p}" for i, p in enumerate(parts, 1)]
        return 200, chat_completion(json.dumps({"tweets": tweets}))

    thread_writer = writer(MockOpenAI(paragraphs))
    offline = ThreadWriter(None, max_tweets=25)
    for item in dataset.values():
        text = item["articleBody"][:10_000]
        for w in (thread_writer, offline):
            thread = (await w.write(text, None)).tweets
            assert_numbered(thread)


@pytest.mark.parametrize("reply", [tweets_reply("ok"), (200, chat_completion("just prose"))])
async def test_single_tweet_replies_are_valid_threads(reply: Any) -> None:
    thread = (await writer(MockOpenAI(reply)).write(ARTICLE, None)).tweets
    assert_numbered(thread)


# --- a paid reply is never refunded: unusable output falls back, unusable input is refused first


@pytest.mark.parametrize(
    "reply",
    [
        tweets_reply("1/3", "2/3", "Sure!"),  # numbering and chatter only: nothing to finalise
        tweets_reply("", "(2/3)", "---", "**Tweet 3:**"),
        (200, chat_completion("Here's your thread:\n\n1/3\n\n2/3\n\nLet me know!")),
    ],
)
async def test_an_unusable_reply_falls_back_to_the_offline_thread(reply: Any) -> None:
    mock = MockOpenAI(reply)
    written = await writer(mock).write(ARTICLE, "Redis")
    thread, generator = written.tweets, written.generator
    offline = (await ThreadWriter(None, max_tweets=25).write(ARTICLE, "Redis")).tweets
    assert generator == "offline" and thread == offline
    assert mock.calls == 1


@pytest.mark.parametrize("text", ["!!! ??? ...", "Sure!", "1/3", "© 2024"])
async def test_an_input_without_content_is_refused_before_any_model_call(text: str) -> None:
    mock = MockOpenAI(tweets_reply("A thread the model made up.", "About nothing."))
    with pytest.raises(Unprocessable):
        await writer(mock).write(text, None)
    assert mock.calls == 0


async def hang(_: httpx2.Request) -> Any:
    await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("replies", "budget", "told"),
    [
        (((429, {"error": {"message": "slow down"}}), tweets_reply("A", "B")), 5.0,
         ["rate_limited", None]),
        (((401, {"error": {"message": "bad key"}}),), 5.0, ["refused"]),
        ((tweets_reply(),), 5.0, ["empty_reply"]),
        ((hang,), 0.2, ["timeout"]),  # cut by the budget mid-call
    ],
)  # fmt: skip
async def test_every_call_is_told_with_its_time_and_outcome(
    replies: tuple[Any, ...], budget: float, told: list[str | None]
) -> None:
    calls: list[tuple[float, str | None]] = []
    ai = OpenAIWriter(
        MockOpenAI(*replies).client(),
        model="gpt-test",
        budget=budget,
        max_tweets=25,
        sleep=no_sleep,
        on_call=lambda seconds, failure: calls.append((seconds, failure)),
    )
    await ThreadWriter(ai, max_tweets=25).write(ARTICLE, None)
    assert [failure for _, failure in calls][: len(told)] == told
    assert all(seconds >= 0 for seconds, _ in calls)
