"""Shaping writer output: recovering tweets from prose, cleaning, splitting and numbering."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadr.errors import Unprocessable
from threadr.writing.finalize import Tweet, finalize, recover_tweets
from threadr.writing.offline import write_offline
from threadr.writing.twittertext import weighted_length

from .texts import any_text, articles, squeeze


def assert_valid(thread: list[Tweet], max_tweets: int = 25) -> list[str]:
    """Check every promise finalize makes; return the bodies without their "i/n " prefix."""
    total = len(thread)
    assert 1 <= total <= max_tweets
    bodies = []
    for number, tweet in enumerate(thread, 1):
        prefix = f"{number}/{total} "
        assert (tweet.number, tweet.total) == (number, total)
        assert tweet.content.startswith(prefix)
        body = tweet.content.removeprefix(prefix)
        assert body and body == body.strip()
        assert tweet.character_count == weighted_length(tweet.content) <= 280
        bodies.append(body)
    return bodies


# --- recover_tweets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "Sure! Here's a thread about the article:\n\n1/3 Alpha point.\n2/3 Beta point.\n\n"
        "3/3 Gamma point.\n\nLet me know if you'd like any changes!",
        "1. Alpha point.\n2. Beta point.\n3. Gamma point.",
        "(1/3) Alpha point.\n(2/3) Beta point.\n(3/3) Gamma point.",
        "Here is your thread:\n\nTweet 1:\nAlpha point.\n\nTweet 2:\nBeta point.\n\n"
        "**Tweet 3:** Gamma point.",
        "Thread:\n- Alpha point.\n- Beta point.\n* Gamma point.",
        "## Tweet 1\nAlpha point.\n---\n## Tweet 2\nBeta point.\n---\n## Tweet 3\nGamma point.",
        '```json\n{"tweets": ["Alpha point.", "Beta point.", "Gamma point."]}\n```',
        'Okay, here it is: ["Alpha point.", "Beta point.", "Gamma point."] Hope this helps!',
        'Result: {"thread": [{"text": "Alpha point."}, {"text": "Beta point."}, '
        '{"text": "Gamma point."}]}',
        "Alpha point.\n\nBeta point.\n\nGamma point.",
        "Alpha point.\nBeta point.\nGamma point.",
        "```\n1/ Alpha point.\n2/ Beta point.\n3/ Gamma point.\n```",
    ],
)
def test_recover_tweets_from_common_reply_shapes(reply: str) -> None:
    assert recover_tweets(reply) == ["Alpha point.", "Beta point.", "Gamma point."]


def test_recover_tweets_keeps_lines_under_a_marker_together() -> None:
    reply = "1/2 A hook\nthat spans two lines.\n\n2/2 The end."
    assert recover_tweets(reply) == ["A hook\nthat spans two lines.", "The end."]


def test_recover_tweets_does_not_take_24_7_for_numbering() -> None:
    reply = "1. Open all night.\n24/7 support matters.\n2. Closing point."
    assert recover_tweets(reply) == ["Open all night.\n24/7 support matters.", "Closing point."]


def test_recover_tweets_from_json_cut_short() -> None:
    reply = '```json\n{"tweets": ["First \\u2014 one", "Second \\"quoted\\" one", "Thi'
    assert recover_tweets(reply) == ["First — one", 'Second "quoted" one']


def test_recover_tweets_keeps_bullets_inside_numbered_tweets() -> None:
    reply = "1/2 Three reasons:\n- speed\n- cost\n2/2 That's it."
    assert recover_tweets(reply) == ["Three reasons:\n- speed\n- cost", "That's it."]


def test_recover_tweets_from_chatter_only_is_empty() -> None:
    assert recover_tweets("Sure! Here's your thread:\n\nLet me know if you want changes.") == []
    assert recover_tweets("") == []


# --- finalize ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["1/3 Alpha", "2/3 Beta", "3/3 Gamma"], ["Alpha", "Beta", "Gamma"]),
        (["1/ Alpha", "2/ Beta", "3/ Gamma"], ["Alpha", "Beta", "Gamma"]),
        (["(1/3) Alpha", "[2/3] Beta", "**3/3** Gamma"], ["Alpha", "Beta", "Gamma"]),
        (["1. Alpha", "2) Beta", "Tweet 3: Gamma"], ["Alpha", "Beta", "Gamma"]),
        (["Alpha 1/3", "Beta (2/3)", "Gamma 3/3"], ["Alpha", "Beta", "Gamma"]),
        (["🧵 1/3 Alpha", "2/3 🧵 Beta", "Gamma"], ["🧵 Alpha", "🧵 Beta", "Gamma"]),
        (["Hook", "1/3 Alpha", "2/3 Beta", "3/3 Gamma"], ["Hook", "Alpha", "Beta", "Gamma"]),
        (["Hook", "Alpha 1/3", "Beta 2/3", "Gamma 3/3"], ["Hook", "Alpha", "Beta", "Gamma"]),
        (["  Alpha  ", "", "   ", "\n", "Beta"], ["Alpha", "Beta"]),
        (
            ["Here is your thread:", "Alpha", "Thread:", "Beta", "Let me know if that works!"],
            ["Alpha", "Beta"],
        ),
        (["Sure! Here's a thread for you.\n\n1/2 Alpha", "2/2 Beta"], ["Alpha", "Beta"]),
        (["```", "Alpha", "---", "Beta", "```"], ["Alpha", "Beta"]),
    ],
)
def test_finalize_strips_numbering_and_chatter(raw: list[str], expected: list[str]) -> None:
    assert assert_valid(finalize(raw)) == expected


def test_finalize_keeps_numbers_that_are_content() -> None:
    raw = ["Hook", "24/7 support is here", "1/3 of voters agree", "7. That is the seventh rule"]
    assert assert_valid(finalize(raw)) == raw


def test_finalize_numbers_and_counts() -> None:
    thread = finalize(["Alpha", "Beta 日本 \U0001f600 https://example.com/x"])
    assert [t.content for t in thread] == [
        "1/2 Alpha",
        "2/2 Beta 日本 \U0001f600 https://example.com/x",
    ]
    assert [t.character_count for t in thread] == [9, 4 + 5 + 5 + 3 + 23]


def test_finalize_splits_an_overlong_tweet_at_sentences() -> None:
    sentences = [f"Sentence number {i} says something worth reading about." for i in range(12)]
    thread = finalize([" ".join(sentences)])
    bodies = assert_valid(thread)
    assert len(bodies) > 1
    assert all(body.endswith(".") for body in bodies)
    assert squeeze("".join(bodies)) == squeeze("".join(sentences))


def test_finalize_caps_the_count_and_keeps_the_closer() -> None:
    raw = [f"Point {i}: " + "detail " * 30 for i in range(40)] + ["That's a wrap, share it! 🔁"]
    bodies = assert_valid(finalize(raw, max_tweets=10), max_tweets=10)
    assert len(bodies) == 10
    assert bodies[0].startswith("Point 0:")
    assert bodies[-1] == "That's a wrap, share it! 🔁"


def test_finalize_caps_without_a_closer_by_cutting_the_end() -> None:
    raw = [f"Point {i}." for i in range(30)]
    assert assert_valid(finalize(raw)) == raw[:25]


@pytest.mark.parametrize("raw", [[], [""], ["  ", "\n\n"], ["1/3", "(2/3)", "---"], ["Thread:"]])
def test_finalize_without_content_is_unprocessable(raw: list[str]) -> None:
    with pytest.raises(Unprocessable, match="no usable tweets"):
        finalize(raw)


def test_finalize_rejects_a_nonsense_cap() -> None:
    with pytest.raises(ValueError, match="max_tweets"):
        finalize(["Alpha"], max_tweets=0)


# --- properties and the real articles ---------------------------------------------------------

words = st.sampled_from(["alpha", "river", "stone", "orbit", "quiet", "lamp", "seven", "日本"])
content = st.lists(words, min_size=1, max_size=120).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(any_text, max_size=30), st.integers(1, 30))
def test_finalize_any_input_fits_or_is_unprocessable(raw: list[str], max_tweets: int) -> None:
    try:
        thread = finalize(raw, max_tweets=max_tweets)
    except Unprocessable:
        # Only input without a letter, digit or emoji worth keeping may be refused.
        assert not any(re.search(r"[^\W\d_]{4}", item) for item in raw if len(item) > 200)
        return
    assert_valid(thread, max_tweets)


@settings(max_examples=100, deadline=None)
@given(st.lists(content, min_size=1, max_size=40), st.integers(1, 30))
def test_finalize_with_content_always_numbers_a_thread(raw: list[str], max_tweets: int) -> None:
    bodies = assert_valid(finalize(raw, max_tweets=max_tweets), max_tweets)
    assert squeeze("".join(raw)).startswith(squeeze("".join(bodies)))


def adversarial_outputs(article: str) -> list[list[str]]:
    """Model output a careless writer might return for `article`."""
    paragraphs = [p.strip() for p in article.split("\n\n") if p.strip()]
    n = len(paragraphs)
    return [
        ["Sure! Here's a thread about the article:", *paragraphs, "Let me know if this works!"],
        [f"{i}/{n} {p}" for i, p in enumerate(paragraphs, 1)],
        [f"🧵 {paragraphs[0]}", *(f"{i}/{n - 1} {p}" for i, p in enumerate(paragraphs[1:], 1))],
        [f"{p} ({i}/{n})" for i, p in enumerate(paragraphs, 1)],
        [f"**Tweet {i}:** {p}" for i, p in enumerate(paragraphs, 1)],
        [article],
        recover_tweets(
            "Here is your thread:\n\n"
            + "\n\n".join(f"{i}. {p}" for i, p in enumerate(paragraphs, 1))
            + "\n\nI can also make it shorter."
        ),
    ]


def test_every_article_makes_a_valid_thread_from_model_output() -> None:
    for article in articles():
        source = squeeze(re.sub(r"(?m)^[-_*=~]{3,}$", "", article))  # rules are dropped
        for raw in adversarial_outputs(article):
            bodies = assert_valid(finalize(raw))
            assert all(squeeze(body.removeprefix("🧵 ")) in source for body in bodies)
            assert not any(re.match(r"\(?\d+/\d+\)? ", body) for body in bodies)
            assert not any(re.search(r" \(?\d+/\d+\)?$", body) for body in bodies)


def test_every_article_makes_a_valid_offline_thread() -> None:
    for article in articles():
        bodies = assert_valid(finalize(write_offline(article)))
        assert bodies[0].startswith("🧵")
