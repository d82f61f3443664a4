"""The OpenAI writer with options: every option in the prompt and in the output, the count
announced first, the length loop that asks again for only the tweets that do not fit, sources
checked against the article, and tweets told while the model is still writing."""

from __future__ import annotations

import asyncio
import json
import re

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import MockOpenAI, chat_completion
from threadr.errors import Unprocessable
from threadr.writing.assembly import Assembly
from threadr.writing.options import LENGTHS, Options
from threadr.writing.reply import Item
from threadr.writing.thread import Span, ThreadWarning, Tweet
from threadr.writing.twittertext import has_emoji, weighted_length

from .replies import (
    ARTICLE,
    content,
    last_ask,
    model_writer,
    opts,
    prompt_of,
    reply,
    stream_of,
)
from .test_offline import any_options
from .texts import any_text

HOOK = "The council said yes to light rail. Here's what it means:"
POINTS = [
    "The vote was 7 to 2, ending a decade of debate.",
    "Work starts next spring and takes four years.",
    "The state pays 40% of the $1.2 billion bill.",
    "Opponents say downtown wins over the suburbs.",
    "A federal permit is still needed.",
    "Officials expect 30,000 riders a day by 2030.",
    "The council rejected a bus-only plan in May.",
    "Residents will get to comment on the route.",
]
CLOSER = "Big change for commuters. Worth following."
HASHTAG = re.compile(r"(?<!\w)#\w+")


def thread_of(n: int) -> list[str]:
    more = [f"Point {i} about the rail line, for a longer thread." for i in range(n)]
    return [HOOK, *[*POINTS, *more][: n - 2], CLOSER]


# --- each option, in the prompt and in the thread -------------------------------------------------


async def test_the_request_is_structured_streamed_and_bounded() -> None:
    mock = MockOpenAI(reply(*thread_of(4)))
    written = await model_writer(mock).write(ARTICLE, "Light rail", opts(length="short"))
    sent = mock.requests[0]
    schema = sent["response_format"]["json_schema"]
    assert schema["strict"] is True and list(schema["schema"]["properties"]) == ["count", "tweets"]
    assert schema["schema"]["properties"]["tweets"]["items"]["required"] == ["text", "quote"]
    assert sent["stream"] is True
    assert sent["max_completion_tokens"] == 5 * 360  # the most tweets "short" may have
    assert "Title: Light rail" in sent["messages"][1]["content"]
    assert written.generator == "openai" and len(written.tweets) == 4


@pytest.mark.parametrize("length", ["short", "medium", "long"])
async def test_length_is_asked_for_and_the_announced_count_kept_within_it(length: str) -> None:
    low, high = LENGTHS[length]
    mock = MockOpenAI(reply(*thread_of(high + 2), count=high + 2))  # more than allowed
    written = await model_writer(mock).write(ARTICLE, None, opts(length=length))
    assert f"between {low} and {high} tweets" in prompt_of(mock)
    assert len(written.tweets) == high and written.tweets[-1].total == high
    assert mock.calls == 1


@pytest.mark.parametrize("count", [2, 6, 10])
async def test_an_exact_count_is_reached_by_asking_for_the_missing_tweets(count: int) -> None:
    mock = MockOpenAI(
        reply(*thread_of(count)[:2], count=2),  # the model announced and wrote too few
        reply(*[f"Extra point number {i} about the rail line." for i in range(count - 2)]),
    )
    written = await model_writer(mock).write(ARTICLE, None, opts(tweets=count))
    assert f"exactly {count} tweets" in prompt_of(mock)
    assert len(written.tweets) == count
    if count > 2:
        assert mock.calls == 2
        assert f"Write tweet(s) {', '.join(map(str, range(3, count + 1)))} again" in last_ask(
            mock, 1
        )
        assert "2. " + thread_of(count)[1] in last_ask(mock, 1)  # shown the thread so far


async def test_a_count_the_model_cannot_reach_ends_shorter_with_a_warning() -> None:
    mock = MockOpenAI(reply(*thread_of(3), count=3), reply())  # asked again: nothing
    written = await model_writer(mock).write(ARTICLE, None, opts(length="medium"))
    assert len(written.tweets) == 6 - 3  # the count was 6 (at least medium's 6); 3 came
    assert [t.total for t in written.tweets] == [3, 3, 3]
    assert ThreadWarning(None, "length_unmet", "3") in written.warnings
    assert mock.calls == 3  # the first call, then two rounds of asking again: bounded


async def test_tone_and_hook_are_in_the_prompt_with_an_example() -> None:
    mock = MockOpenAI(reply(*thread_of(3)))
    await model_writer(mock).write(ARTICLE, None, opts(tone="witty", hook="question"))
    system = prompt_of(mock)
    assert "Tone: witty" in system
    assert "asks the reader a question" in system and "For example: Why did" in system
    assert '"count": 3' in system  # an example of the reply


@pytest.mark.parametrize("emoji", [True, False])
async def test_emoji(emoji: bool) -> None:
    mock = MockOpenAI(reply("Light rail is coming 🚆", "It costs $1.2 billion 💸", "Stay tuned!"))
    written = await model_writer(mock).write(ARTICLE, None, opts(emoji=emoji))
    assert ("Use no emoji at all." in prompt_of(mock)) is not emoji
    assert any(has_emoji(t.content) for t in written.tweets) is emoji
    assert written.tweets[0].content == ("1/3 Light rail is coming 🚆" if emoji else
                                         "1/3 Light rail is coming")  # fmt: skip


@pytest.mark.parametrize("count", [0, 1, 2, 3])
async def test_hashtags_are_exactly_as_many_as_asked_on_the_last_tweet(count: int) -> None:
    tweets = ["#Rail is coming #transit", "It costs $1.2 billion #money", "Stay tuned! #a #b #c #d"]
    mock = MockOpenAI(reply(*tweets))
    written = await model_writer(mock).write(ARTICLE, None, opts(hashtags=count))
    assert (f"exactly {count} relevant hashtag" in prompt_of(mock)) is (count > 0)
    found = [tag for t in written.tweets for tag in HASHTAG.findall(t.content)]
    assert found == ["#a", "#b", "#c"][:count]
    assert written.tweets[0].content == "1/3 Rail is coming"  # an inline tag keeps its word


async def test_missing_hashtags_are_topped_up_from_the_article() -> None:
    mock = MockOpenAI(reply(*thread_of(3)))
    written = await model_writer(mock).write(ARTICLE, None, opts(hashtags=2))
    tags = HASHTAG.findall(written.tweets[-1].content)
    assert len(tags) == 2 and all(t[1:].casefold() in ARTICLE.casefold() for t in tags)


@pytest.mark.parametrize(
    ("numbering", "position", "shape"),
    [("1/n", "start", "{i}/{n} "), ("1.", "start", "{i}. "), ("(1/n)", "start", "({i}/{n}) "),
     ("(1/n)", "end", " ({i}/{n})"), ("1.", "end", " {i}."), ("none", "start", "")],
)  # fmt: skip
async def test_numbering_is_counted_inside_280(numbering: str, position: str, shape: str) -> None:
    full = [("x" * 260 + f" {i}.")[:270] for i in range(25)]  # as long as the prompt allows
    mock = MockOpenAI(reply(*full))
    options = opts(tweets=25, numbering=numbering, numbering_position=position)
    written = await model_writer(mock).write(ARTICLE, None, options)
    assert len(written.tweets) == 25
    for tweet in written.tweets:
        mark = shape.format(i=tweet.number, n=25)
        assert (
            tweet.content.startswith(mark) if position == "start" else tweet.content.endswith(mark)
        )
        assert tweet.character_count == weighted_length(tweet.content) <= 280


async def test_language_is_passed_to_the_model() -> None:
    mock = MockOpenAI(reply("Die Stadt baut eine Stadtbahn.", "Sie kostet 1,2 Milliarden."))
    written = await model_writer(mock).write(ARTICLE, None, opts(language="de"))
    assert "BCP 47 tag 'de'" in prompt_of(mock)
    assert written.generator == "openai"
    assert not any(w.kind == "language_unavailable" for w in written.warnings)
    auto = MockOpenAI(reply("A point."))
    await model_writer(auto).write(ARTICLE, None)
    assert "Write in the article's own language." in prompt_of(auto)


async def test_the_offline_fallback_says_it_kept_the_articles_language() -> None:
    mock = MockOpenAI((401, {"error": {"message": "bad key"}}))
    written = await model_writer(mock).write(ARTICLE, None, opts(language="fr"))
    assert written.generator == "offline"
    assert ThreadWarning(None, "language_unavailable", "fr") in written.warnings


async def test_a_long_post_is_one_post_of_up_to_25000() -> None:
    post = "\n\n".join(POINTS) * 60  # about 15,000 characters
    mock = MockOpenAI(reply(post))
    written = await model_writer(mock).write(ARTICLE, None, opts(format="long_post"))
    assert "Write ONE long post" in prompt_of(mock)
    assert mock.requests[0]["max_completion_tokens"] > 5_000
    [tweet] = written.tweets
    assert tweet.content == post and (tweet.number, tweet.total) == (1, 1)
    assert 280 < tweet.character_count <= 25_000


# --- the length loop ------------------------------------------------------------------------------


async def test_only_the_tweet_over_the_limit_is_asked_for_again() -> None:
    long = "The council's vote " + "really " * 60 + "matters."
    mock = MockOpenAI(reply(HOOK, long, CLOSER), reply("The vote matters for every commuter."))
    told: list[Tweet] = []
    written = await model_writer(mock).write(ARTICLE, None, opts(), on_tweet=told.append)
    ask = last_ask(mock, 1)
    assert "Write tweet(s) 2 again" in ask and "at most 256 characters" in ask
    assert [t.content for t in written.tweets] == [
        f"1/3 {HOOK}",
        "2/3 The vote matters for every commuter.",
        f"3/3 {CLOSER}",
    ]
    assert told == written.tweets  # tweet 3 waited for tweet 2: told in order, each once
    assert mock.calls == 2


async def test_a_tweet_still_too_long_after_the_bounded_attempts_is_cut_at_a_sentence() -> None:
    long = "The vote was close. " * 20
    mock = MockOpenAI(reply(HOOK, long, CLOSER), reply(long))  # asked again, the same
    written = await model_writer(mock).write(ARTICLE, None)
    assert mock.calls == 3
    middle = written.tweets[1]
    assert middle.character_count <= 280 and middle.content.endswith("The vote was close.")


# --- grounding ------------------------------------------------------------------------------------


async def test_sources_are_found_corrected_or_dropped() -> None:
    tweets = [
        (HOOK, ""),
        ("It costs $1.2 billion.", "The line will cost $1.2 billion"),  # exact
        ("Work starts in spring.", "work  starts next SPRING"),  # case and spacing differ
        ("Riders: 30,000 a day.", "Officials expect 30000 riders a day by 2040"),  # not there
        ("The state pays 40%.", "The council rejected a bus-only plan in May"),  # unrelated
        ("Permits pending.", "x" * 5_000),  # no quote is that long
    ]
    written = await model_writer(MockOpenAI(reply(*tweets))).write(ARTICLE, None)
    sources = [t.source for t in written.tweets]
    exact = ARTICLE.index("The line will cost $1.2 billion")
    spring = ARTICLE.index("Work starts next spring")
    assert sources == [
        None,
        Span(exact, exact + len("The line will cost $1.2 billion")),
        Span(spring, spring + len("Work starts next spring")),
        None,
        None,
        None,
    ]


async def test_numbers_and_quotes_the_article_does_not_hold_are_warned_about() -> None:
    tweets = [HOOK, "Ridership will grow 42% a year.", 'The mayor called it "a new era".',
              "The state pays 40% of $1.2 billion."]  # fmt: skip
    written = await model_writer(MockOpenAI(reply(*tweets))).write(ARTICLE, None)
    assert written.warnings == [
        ThreadWarning(2, "unsupported_number", "42%"),
        ThreadWarning(3, "unsupported_quote", "a new era"),
    ]


# --- hostile replies ------------------------------------------------------------------------------


async def test_tweets_of_the_wrong_shape_are_dropped_and_asked_for() -> None:
    bad = json.dumps(
        {"count": 3, "tweets": [{"text": 5}, {"text": HOOK, "quote": 7}, {"text": CLOSER,
                                 "quote": ""}, 42, None, {"text": ["nested"]}]}
    )  # fmt: skip
    mock = MockOpenAI((200, chat_completion(bad)), reply("A second point.", "A third."))
    written = await model_writer(mock).write(ARTICLE, None)
    assert [t.content for t in written.tweets] == [
        f"1/3 {CLOSER}",
        "2/3 A second point.",
        "3/3 A third.",
    ]


async def test_a_count_that_is_not_a_number_is_ignored() -> None:
    for count in ['"seven"', "-3", "1e9", "null", "[3]"]:
        body = content(*thread_of(3)).replace('"count": 3', f'"count": {count}')
        written = await model_writer(MockOpenAI((200, chat_completion(body)))).write(ARTICLE, None)
        assert len(written.tweets) == 3


# --- tweets told as the model writes them ---------------------------------------------------------


async def test_tweets_are_told_while_the_model_is_still_writing() -> None:
    text = content(*thread_of(4))
    after_first = text.index("}") + 1 + 20  # tweet 1's object is complete, and read
    told: list[Tweet] = []
    told_mid_stream: list[int] = []

    async def pause(event: int) -> None:
        # Before the model "writes" event `event`, everything before it has been read.
        if event * 20 >= after_first and not told_mid_stream:
            told_mid_stream.append(len(told))

    mock = MockOpenAI(stream_of(text, pause=pause))
    written = await model_writer(mock).write(ARTICLE, None, opts(), on_tweet=told.append)
    assert told_mid_stream == [1]  # tweet 1 was told while tweets 2 to 4 were still to come
    assert told == written.tweets and told[0].content == f"1/4 {HOOK}"


async def test_a_stream_that_breaks_keeps_what_was_told_and_asks_for_the_rest() -> None:
    text = content(*thread_of(5))
    mock = MockOpenAI(
        stream_of(text, fail_at=len(text) // 40), reply("Point three.", "Four.", "Five.")
    )
    told: list[Tweet] = []
    written = await model_writer(mock).write(ARTICLE, None, opts(), on_tweet=told.append)
    assert mock.calls == 2 and "stream" not in mock.requests[1]  # no second thread: the rest
    assert len(written.tweets) == 5 and told == written.tweets
    assert written.tweets[0].content == f"1/5 {HOOK}"


async def test_without_a_count_tweets_are_told_once_the_reply_is_complete() -> None:
    mock = MockOpenAI((200, chat_completion(json.dumps({"tweets": thread_of(3)}))))
    told: list[Tweet] = []
    written = await model_writer(mock).write(ARTICLE, None, opts(), on_tweet=told.append)
    assert told == written.tweets and len(told) == 3


async def test_an_async_listener_is_awaited_in_order() -> None:
    seen: list[int] = []

    async def on_tweet(tweet: Tweet) -> None:
        await asyncio.sleep(0)
        seen.append(tweet.number)

    await model_writer(MockOpenAI(reply(*thread_of(5)))).write(ARTICLE, None, on_tweet=on_tweet)
    assert seen == [1, 2, 3, 4, 5]


async def test_the_offline_writer_tells_every_tweet_in_order() -> None:
    from threadr.writing.writer import ThreadWriter

    told: list[Tweet] = []
    written = await ThreadWriter(None, max_tweets=25).write(
        ARTICLE, "Light rail", opts(length="short"), on_tweet=told.append
    )
    assert told == written.tweets and [t.number for t in told] == list(range(1, len(told) + 1))


async def test_a_reply_broken_off_before_any_tweet_is_retried_whole() -> None:
    mock = MockOpenAI(httpx2.ConnectError("refused"), reply(*thread_of(3)))
    written = await model_writer(mock).write(ARTICLE, None)
    assert mock.calls == 2 and mock.requests[1].get("stream") is True
    assert written.generator == "openai" and len(written.tweets) == 3


# --- whatever the model sends, with whatever options -------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(any_text, max_size=12), st.one_of(st.none(), st.integers(-5, 40)), any_options)
async def test_any_reply_with_any_options_gives_tweets_that_fit(
    texts: list[str], count: int | None, options: Options
) -> None:
    assembly = Assembly(ARTICLE, "Light rail", options, 25)
    assembly.announce(count)
    for text in texts:
        await assembly.add(Item(text, text[:40]))
    await assembly.settle()
    try:
        tweets = await assembly.finish()
    except Unprocessable:
        return
    limit = 25_000 if options.format == "long_post" else 280
    _, high = options.count_range()
    assert 1 <= len(tweets) <= high
    for place, tweet in enumerate(tweets, 1):
        assert (tweet.number, tweet.total) == (place, len(tweets))
        assert tweet.character_count == weighted_length(tweet.content) <= limit
        assert options.emoji or not has_emoji(tweet.content)
        if tweet.source is not None:
            assert ARTICLE[tweet.source.start : tweet.source.end]
    tags = [tag for t in tweets[:-1] for tag in HASHTAG.findall(t.content)]
    assert tags == [] and len(HASHTAG.findall(tweets[-1].content)) <= options.hashtags
