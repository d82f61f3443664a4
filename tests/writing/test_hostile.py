"""Hostile model output: whatever a model (or a proxy posing as one) replies, the thread is
finished in linear time, never holding the event loop for more than 100 ms, and never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import MockOpenAI, chat_completion, make_settings, tweets_reply
from tests.watchdog import Watchdog
from threadr.writing.finalize import clean_tweets, recover_tweets, shorten
from threadr.writing.fit import has_content, pack, split_sentences
from threadr.writing.offline import write_offline
from threadr.writing.openai_writer import OpenAIWriter, parse_reply
from threadr.writing.twittertext import stream_safe, weighted_length
from threadr.writing.writer import ThreadWriter

from .test_finalize import assert_valid

ARTICLE = "Redis keeps data in memory. It answers in microseconds. Many services use it. " * 4

# Each would take seconds (or raise) where a pattern backtracks from every start position or a
# loop measures the whole rest of a word once per tweet. About 20,000 characters: most of what a
# reply may hold (OpenAIWriter cuts one at 28,000 for 25 tweets), far more than any thread.
N = 20_000
HOSTILE = {
    "space run": "hello" + " " * N + "world",
    "tab and newline run": "hello" + " \t\n" * (N // 3) + "world",
    "blank lines": "hello" + "\n" * N + "world",
    "space run after a number": "1/2" + " " * N + "x",
    "space run in brackets": "(" + " " * N + "1/2",
    "space run after the hook": "🧵" + " " * N + "x",
    "space run after a bullet": "- " + " " * N + "x",
    "space run after 'tweet'": "Tweet" + " " * N + "x",
    "space run before 'and'": "x" + " " * N + "andx",
    "dots": "Wait" + "." * N + "x",
    "question marks": "?" * N,
    "ellipses and quotes": '…"' * (N // 2) + "x",
    "commas": "," * N + "x",
    "dashes": "-" * N,
    "stars": "**" + "*x" * (N // 2),
    "underscores": "_" * N,
    "combining marks": "e" + "\u0301" * N,
    "combining marks of alternating classes": "e" + "\u0301\u0316" * (N // 2),
    "tibetan vowel signs": "\u0f40" + "\u0f73" * N,
    "zero-width joiners": "a\u200d" * (N // 2),
    "long word": "a" * N,
    "long accented word": "é" * N,
    "long cjk word": "日本" * (N // 2),
    "long emoji word": "\U0001f600" * N,
    "long url": "https://example.com/" + "a/" * (N // 2),
    "long accented domain": "é" * N + ".com",
    "dotted accents": "éé." * (N // 3),
    "accented labels glued to a mention": "@" + "éa." * (N // 3),
    "links glued together": "a.com/" * (N // 6),
    "domains glued together": "ab.com" * (N // 6),
    "schemes glued together": "http://" * (N // 7),
    "escaped quotes": '["' + '\\"' * (N // 2),
    "unclosed strings": '["' + '"\\\n' * (N // 3),
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
async def test_cleaning_and_shortening_are_linear(text: str, watchdog: Watchdog) -> None:
    cleaned = clean_tweets([text])
    assert cleaned or not has_content(text)
    for _, tweet in cleaned:
        assert weighted_length(shorten(tweet, 274)) <= 274


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
async def test_recovering_a_reply_is_linear(text: str, watchdog: Watchdog) -> None:
    for tweet in recover_tweets(text):
        assert tweet.strip()


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
async def test_the_offline_writer_is_linear(text: str, watchdog: Watchdog) -> None:
    write_offline(text[: make_settings().max_content_length], None)  # as long as a client's


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
async def test_measuring_and_splitting_are_linear(text: str, watchdog: Watchdog) -> None:
    text = stream_safe(text)  # what finalize and the offline writer measure
    assert weighted_length(text) >= 0
    assert "".join(split_sentences(text)) == text
    assert all(weighted_length(chunk) <= 274 for chunk in pack(text, 274, limit=25))


def test_stream_safe_cuts_only_runs_of_more_than_30_marks() -> None:
    for text in ["plain", "café", "e\u0301", "Tiếng Việt", "\u0f40\u0f73", "a" + "\u0301" * 30]:
        assert stream_safe(text) == text
    assert stream_safe("e" + "\u0301\u0316" * 100 + "x") == "e" + "\u0301\u0316" * 15 + "x"
    assert stream_safe("\u0f40" + "\u0f73" * 100) == "\u0f40" + "\u0f73" * 30


def test_a_limited_pack_is_the_start_of_the_whole() -> None:
    text = " ".join(f"Sentence number {i} says a little." for i in range(200))
    whole = pack(text, 100)
    assert len(whole) > 10
    assert pack(text, 100, limit=10) == whole[:10]
    assert pack(text, 100, limit=len(whole) + 5) == whole


# --- through the OpenAI writer ----------------------------------------------------------------

MEGABYTE = 1_000_000
GARBAGE = {
    "1 MB of one word": "x" * MEGABYTE,
    "1 MB of spaces": " " * MEGABYTE,
    "1 MB of numbered lines": "1/2 hello\n" * (MEGABYTE // 10),
    "1 MB of JSON tweets": json.dumps({"tweets": ["A point worth making. " * 10] * 4_500}),
    "1 MB of one JSON tweet": json.dumps({"tweets": ["é" * MEGABYTE]}, ensure_ascii=False),
    "1 MB of escaped quotes": '{"tweets": ["' + '\\"' * (MEGABYTE // 2),
    "deep arrays": "[" * 100_000,
    "deep objects": '{"a":' * 100_000,
    "deep arrays in an unknown field": '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "deep tweets keys": '{"tweets": ' * 900 + '["deep"]' + "}" * 900,
    "deep tweets keys, unclosed": '{"tweets": ' * 100_000,
    "tweets of the wrong type": json.dumps({"tweets": [1, None, {"a": [2]}, [["x"]]]}),
    "a number": "12345",
    "null bytes": "\x00" * 50_000,
    "lone quote": '"',
}


def writer(mock: MockOpenAI) -> ThreadWriter:
    async def no_sleep(_: float) -> None:
        return None

    ai = OpenAIWriter(mock.client(), model="gpt-test", budget=5.0, max_tweets=25, sleep=no_sleep)
    return ThreadWriter(ai, max_tweets=25)


@pytest.fixture
async def warm_sdk() -> None:
    """The SDK builds its models on its first call (~100 ms, once a process): not the reply's
    doing, so it happens before the watchdog starts."""
    await writer(MockOpenAI(tweets_reply("Warm."))).write(ARTICLE, None)


@pytest.mark.parametrize("content", GARBAGE.values(), ids=GARBAGE.keys())
async def test_garbage_replies_give_a_thread_without_stalling(
    content: str, warm_sdk: None, watchdog: Watchdog
) -> None:
    mock = MockOpenAI((200, chat_completion(content)))
    written = await writer(mock).write(ARTICLE, None)
    thread, generator = written.tweets, written.generator
    assert_valid(thread)
    assert generator in {"openai", "offline"}
    assert mock.calls == 1  # an unusable reply is not asked for again: the offline writer answers


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_tweets_give_a_thread_without_stalling(
    text: str, warm_sdk: None, watchdog: Watchdog
) -> None:
    mock = MockOpenAI(tweets_reply("A hook.", text, "The end."))
    thread = (await writer(mock).write(ARTICLE, None)).tweets
    assert_valid(thread)


@pytest.mark.parametrize("content", ["[" * 100_000, '{"a":' * 100_000, "é" * MEGABYTE])
async def test_parse_reply_never_raises(content: str, watchdog: Watchdog) -> None:
    assert isinstance(parse_reply(content[:30_000]), list)


async def test_the_reply_is_capped_in_tokens_and_characters() -> None:
    long_tweet = "word " * 20_000
    mock = MockOpenAI(tweets_reply("First point.", long_tweet, "Last point."))
    ai = OpenAIWriter(mock.client(), model="gpt-test", budget=5.0, max_tweets=10)
    tweets = await ai.write(ARTICLE, None)
    sent: dict[str, Any] = mock.requests[0]
    assert sent["max_completion_tokens"] == ai.max_completion_tokens
    assert 10 * 280 <= ai.max_completion_tokens <= 10 * 400
    # The cut reply is still read, as JSON cut short; 100,000 characters are no tweet.
    assert [t.content for t in tweets] == ["1/1 First point."]
    assert mock.calls == 1
