"""Shaping model output: recovering tweets from prose, cleaning them, shortening (the last
resort) and numbering."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadr.writing.finalize import clean_tweet, clean_tweets, recover_tweets, shorten
from threadr.writing.fit import has_content
from threadr.writing.numbering import budget, number
from threadr.writing.options import DEFAULT_OPTIONS, Options
from threadr.writing.thread import Part, Tweet
from threadr.writing.twittertext import weighted_length

from .texts import any_text, articles, squeeze


def assert_valid(thread: list[Tweet], max_tweets: int = 25) -> list[str]:
    """Check every promise of a numbered thread; return the bodies without their "i/n "."""
    total = len(thread)
    assert 1 <= total <= max_tweets
    bodies = []
    for place, tweet in enumerate(thread, 1):
        prefix = f"{place}/{total} "
        assert (tweet.number, tweet.total) == (place, total)
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


# --- cleaning a model's tweets -----------------------------------------------------------------


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
        (["## Alpha", "**Beta** is bold"], ["Alpha", "Beta is bold"]),
    ],
)
def test_clean_tweets_strips_numbering_and_chatter(raw: list[str], expected: list[str]) -> None:
    assert [text for _, text in clean_tweets(raw)] == expected


def test_clean_tweets_keeps_numbers_that_are_content() -> None:
    raw = ["Hook", "24/7 support is here", "1/3 of voters agree", "7. That is the seventh rule"]
    assert [text for _, text in clean_tweets(raw)] == raw


def test_clean_tweets_says_which_item_each_came_from() -> None:
    assert clean_tweets(["Sure!", "1/2 Alpha", "", "2/2 Beta"]) == [(1, "Alpha"), (3, "Beta")]


@pytest.mark.parametrize(
    ("text", "place", "count", "expected"),
    [
        ("3/7 Gamma", 3, 7, "Gamma"),
        ("Gamma (3/7)", 3, 7, "Gamma"),
        ("Gamma 2/6", 3, 7, "Gamma"),  # after a hook the model did not number
        ("4/7 Gamma", 3, 7, "Gamma"),  # its own count: numbering, even out of place
        ("24/7 support", 3, 7, "24/7 support"),
        ("1/3 of voters agree", 2, 7, "1/3 of voters agree"),
        ("Tweet 3: Gamma", 3, 7, "Gamma"),
        ("Sure! Here is tweet 3.", 3, 7, ""),
        ("(3/7)", 3, 7, ""),
    ],
)
def test_clean_tweet_knows_its_place(text: str, place: int, count: int, expected: str) -> None:
    assert clean_tweet(text, place, count) == expected


def test_shorten_keeps_whole_sentences_that_fit() -> None:
    sentences = [f"Sentence number {i} says something worth reading about." for i in range(12)]
    short = shorten(" ".join(sentences), 200)
    assert weighted_length(short) <= 200
    assert short.endswith(".") and short in " ".join(sentences)


def test_shorten_cuts_one_long_sentence_with_an_ellipsis() -> None:
    long = "word " * 200
    short = shorten(long, 100)
    assert weighted_length(short) <= 100 and short.endswith("…")
    assert shorten("Fits already.", 100) == "Fits already."


def test_number_writes_each_style_inside_the_limit() -> None:
    parts = [Part("x" * 300)] * 3  # too long for any tweet: number() counts, it does not cut
    for style, first in [("1/n", "1/3 "), ("1.", "1. "), ("(1/n)", "(1/3) "), ("none", "")]:
        tweets = number([Part("Alpha"), Part("Beta")], Options(numbering=style))  # type: ignore[arg-type]
        assert tweets[0].content == f"{first.replace('3', '2')}Alpha"
        assert tweets[0].character_count == weighted_length(tweets[0].content)
    assert number(parts, DEFAULT_OPTIONS)[0].character_count == 304
    ended = number([Part("Alpha"), Part("Beta")], Options(numbering_position="end"))
    assert [t.content for t in ended] == ["Alpha 1/2", "Beta 2/2"]


def test_the_widest_number_is_reserved() -> None:
    assert budget(9, DEFAULT_OPTIONS) == 280 - len("9/9 ")
    assert budget(25, Options(numbering="(1/n)")) == 280 - len("(25/25) ")
    assert budget(25, Options(numbering="none")) == 280
    assert budget(1, Options(format="long_post")) == 25_000


# --- properties and the real articles ---------------------------------------------------------

words = st.sampled_from(["alpha", "river", "stone", "orbit", "quiet", "lamp", "seven", "日本"])
content = st.lists(words, min_size=1, max_size=120).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(any_text, max_size=30), st.integers(20, 280))
def test_any_reply_cleans_and_shortens_to_fit(raw: list[str], room: int) -> None:
    for _, text in clean_tweets(raw):
        assert text == text.strip() and has_content(text)
        assert weighted_length(shorten(text, room)) <= room


@settings(max_examples=100, deadline=None)
@given(st.lists(content, min_size=1, max_size=40))
def test_content_is_kept_in_order(raw: list[str]) -> None:
    cleaned = [text for _, text in clean_tweets(raw)]
    assert squeeze("".join(cleaned)) == squeeze("".join(raw))


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
        recover_tweets(
            "Here is your thread:\n\n"
            + "\n\n".join(f"{i}. {p}" for i, p in enumerate(paragraphs, 1))
            + "\n\nI can also make it shorter."
        ),
    ]


def test_every_article_is_cleaned_of_numbering_from_model_output() -> None:
    for article in articles():
        source = squeeze(re.sub(r"(?m)^[-_*=~]{3,}$", "", article))  # rules are dropped
        for raw in adversarial_outputs(article):
            bodies = [text for _, text in clean_tweets(raw)]
            assert bodies
            assert all(squeeze(body.removeprefix("🧵 ")) in source for body in bodies)
            assert not any(re.match(r"\(?\d+/\d+\)? ", body) for body in bodies)
            assert not any(re.search(r" \(?\d+/\d+\)?$", body) for body in bodies)
