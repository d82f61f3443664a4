"""One tweet written anew, pure: numbered for its place in every style and within 280, a model's
reply cleaned and grounded only where its quote is, the offline passage one the thread lacks,
and the rules a request must meet."""

from __future__ import annotations

import json

import pytest

from threadr.errors import ValidationFailed
from threadr.writing.options import Options, parse_options
from threadr.writing.rewrite import Draft, check_thread, from_reply, messages, offline
from threadr.writing.twittertext import weighted_length

ARTICLE = (
    "Caching is the art of remembering answers. A cache keeps the result of expensive work so "
    "the next request gets it at once. The hard part is deciding when a stored answer stops "
    "being true. Eviction policies such as LRU decide what to forget when the memory runs out."
)
THREAD = [
    "1/3 Caching is the art of remembering answers.",
    "2/3 A cache keeps the result of expensive work so the next request gets it at once.",
    "3/3 That's the gist.",
]
LONG = "Every word of this sentence counts against the limit of the tweet it is in. " * 10


@pytest.mark.parametrize("numbering", ["1/n", "1.", "(1/n)", "none"])
@pytest.mark.parametrize("position", ["start", "end"])
@pytest.mark.parametrize(("index", "total"), [(0, 2), (8, 12), (99, 100)])
def test_a_tweet_is_numbered_for_its_place_and_fits(
    numbering: str, position: str, index: int, total: int
) -> None:
    options = parse_options({"numbering": numbering, "numbering_position": position})
    draft = Draft([f"Tweet {k}." for k in range(total)], index, options)
    tweet = draft.tweet(LONG + "🚀" * 100)
    mark = {"1/n": f"{index + 1}/{total}", "1.": f"{index + 1}.", "(1/n)": f"({index + 1}/{total})"}
    expected = mark.get(numbering)
    if expected is None:
        assert not tweet.content[0].isdigit()
    elif position == "start":
        assert tweet.content.startswith(expected + " ")
    else:
        assert tweet.content.endswith(" " + expected)
    assert (tweet.number, tweet.total) == (index + 1, total)
    assert tweet.character_count == weighted_length(tweet.content) <= 280
    assert tweet.source is None


def test_a_reply_is_cleaned_of_chatter_and_numbering_and_grounded_by_its_quote() -> None:
    draft = Draft(THREAD, 1, Options(), ARTICLE)
    quote = "The hard part is deciding when a stored answer stops being true"
    reply = json.dumps(
        {
            "count": 1,
            "tweets": [
                {
                    "text": "2/3 Knowing when a cached answer goes stale is the hard part.",
                    "quote": quote,
                }
            ],
        }
    )
    tweet = from_reply(draft, reply)
    assert tweet is not None
    assert tweet.content == "2/3 Knowing when a cached answer goes stale is the hard part."
    assert tweet.source is not None and ARTICLE[tweet.source.start : tweet.source.end] == quote


@pytest.mark.parametrize(
    "quote", ["Words the article never says at all, made up", "Eviction policies such as LRU"]
)
def test_a_quote_not_in_the_article_or_unrelated_to_the_tweet_is_no_source(quote: str) -> None:
    draft = Draft(THREAD, 1, Options(), ARTICLE)
    reply = json.dumps(
        {"count": 1, "tweets": [{"text": "Stale answers are the hard part.", "quote": quote}]}
    )
    tweet = from_reply(draft, reply)
    assert tweet is not None and tweet.source is None


@pytest.mark.parametrize("reply", [None, "", "```\n```", json.dumps({"count": 1, "tweets": []})])
def test_a_reply_without_a_tweet_is_none(reply: str | None) -> None:
    assert from_reply(Draft(THREAD, 1, Options(), ARTICLE), reply) is None


def test_offline_takes_the_best_passage_the_thread_does_not_say() -> None:
    tweet = offline(Draft(THREAD, 2, Options(), ARTICLE))
    assert tweet.source is not None
    passage = ARTICLE[tweet.source.start : tweet.source.end]
    assert tweet.content == f"3/3 {passage}"
    assert all(passage not in t for t in THREAD)


def test_offline_without_an_article_refits_the_tweet_to_the_options() -> None:
    thread = ["1/2 Caches remember answers 🚀", "2/2 " + LONG]
    no_emoji = Options(emoji=False)
    assert offline(Draft(thread, 0, no_emoji)).content == "1/2 Caches remember answers"
    long = offline(Draft(thread, 1, Options()))
    assert long.content.startswith("2/2 Every word") and long.character_count <= 280


def test_offline_writes_a_blank_tweet_from_the_article_even_when_all_is_said() -> None:
    said = [ARTICLE, ""]
    tweet = offline(Draft(said, 1, Options(), ARTICLE))
    assert tweet.content.startswith("2/2 ") and len(tweet.content) > 10
    assert tweet.source is not None


def test_the_prompt_carries_the_article_thread_place_and_instruction() -> None:
    draft = Draft(THREAD, 1, parse_options({"tone": "witty", "emoji": False}), ARTICLE, "Caching")
    system, user = messages(draft, "Shorter, please.")
    assert "JSON" in str(system["content"])
    content = str(user["content"])
    assert "Title: Caching" in content and ARTICLE in content
    assert "2. A cache keeps" in content  # the thread without its numbers
    assert "Rewrite tweet 2 of 3." in content and "Shorter, please." in content
    assert "witty" in content and "no emoji" in content


@pytest.mark.parametrize(
    ("thread", "index", "instruction", "grounded", "code"),
    [
        (THREAD, 3, None, False, "invalid_index"),
        (THREAD, -1, None, False, "invalid_index"),
        ([], 0, None, True, "empty_thread"),
        (["A tweet."] * 26, 0, None, False, "thread_too_long"),
        (["x" * 1121], 0, None, False, "tweet_too_long"),
        (THREAD, 0, "y" * 281, False, "instruction_too_long"),
        (["", "A tweet."], 0, None, False, "empty_tweet"),
    ],
)
def test_a_rewrite_that_cannot_be_made_is_refused(
    thread: list[str], index: int, instruction: str | None, grounded: bool, code: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_thread(thread, index, instruction, Options(), grounded=grounded)
    assert refused.value.code == code and refused.value.status == 422


def test_a_blank_tweet_with_an_article_and_a_long_post_are_decided_apart() -> None:
    check_thread(["", "A tweet."], 0, None, Options(), grounded=True)  # written from the article
    with pytest.raises(ValidationFailed, match="long post"):
        check_thread(THREAD, 0, None, parse_options({"format": "long_post"}), grounded=True)
