"""Shaping writer output: recovering tweets from prose, cleaning, splitting and numbering."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadr.errors import Unprocessable
from threadr.fit import pack, split_sentences, tweet_budget
from threadr.models import Tweet
from threadr.offline import write_offline
from threadr.thread import finalize, recover_tweets
from threadr.twittertext import weighted_length

DATASET = Path(__file__).parents[1].parent / "shared/datasets/article-extraction"


@cache
def articles() -> list[str]:
    path = DATASET / "ground-truth.json"
    if not path.exists():
        pytest.skip(f"the article dataset is not at {path}; these tests need the shared datasets")
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [entry["articleBody"] for entry in entries.values()]


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


def squeeze(text: str) -> str:
    return "".join(text.split())


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


# --- pack and split_sentences -----------------------------------------------------------------


def test_split_sentences_knows_abbreviations() -> None:
    text = "Dr. Smith met Mr. Jones at 2 a.m. local time. They talked! The U.S. Army agreed? Yes."
    assert split_sentences(text) == [
        "Dr. Smith met Mr. Jones at 2 a.m. local time. ",
        "They talked! ",
        "The U.S. Army agreed? ",
        "Yes.",
    ]
    assert split_sentences("日本語です。次の文！最後") == ["日本語です。", "次の文！", "最後"]


def test_pack_prefers_clauses_then_words_and_never_splits_a_word() -> None:
    clauses = ", ".join(f"clause {i} with several plain words" for i in range(20))
    chunks = pack(clauses, 100)
    assert all(weighted_length(c) <= 100 for c in chunks)
    assert all(c.endswith(",") for c in chunks[:-1])
    words = " ".join(f"word{i}" for i in range(200))  # no punctuation at all
    chunks = pack(words, 60)
    assert all(weighted_length(c) <= 60 for c in chunks)
    assert {w for c in chunks for w in c.split()} == set(words.split())


def test_pack_splits_huge_words_cjk_and_emoji_safely() -> None:
    assert pack("x" * 600, 274) == ["x" * 274, "x" * 274, "x" * 52]
    cjk = "日本語の文章には空白がありません" * 30
    chunks = pack(cjk, 274)
    assert all(weighted_length(c) <= 274 for c in chunks)
    assert "".join(chunks) == cjk
    flags = "\U0001f1ef\U0001f1f5" * 200
    assert all(len(c) % 2 == 0 for c in pack(flags, 100))


def test_pack_keeps_urls_whole() -> None:
    url = "https://example.com/" + "very-long-path/" * 20
    chunks = pack(f"{'Some words here. ' * 20}Read it at {url} today.", 100)
    assert any(url in chunk for chunk in chunks)


fragments = st.sampled_from(
    [
        *["alpha", "Beta.", "gamma,", "delta;", "Dr.", "e.g.", "—", "…", "?!", "(1/5)", "2/7"],
        *["Tweet 3:", "Thread:", "Sure!", "日本語の文章", "。", "e\u0301", "x" * 300],
        *["\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1ef\U0001f1f5", "\ufe0f"],
        *["https://example.com/a/long/path", "example.com", "bit.ly", "file.txt"],
        *[" ", " ", " ", " ", "\n", "\n\n", "\t"],
    ]
)
# Arbitrary text, and text made of the pieces that stress the splitter and the counter.
any_text = st.one_of(st.text(max_size=1500), st.lists(fragments, max_size=200).map("".join))


@settings(max_examples=150, deadline=None)
@given(any_text, st.integers(23, 280))
def test_pack_fits_and_loses_nothing(text: str, budget: int) -> None:
    chunks = pack(text, budget)
    assert all(chunk and chunk == chunk.strip() for chunk in chunks)
    assert all(weighted_length(chunk) <= budget for chunk in chunks)
    assert squeeze("".join(chunks)) == squeeze(text)


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


def test_budget_reserves_the_widest_prefix() -> None:
    assert tweet_budget(25) == 280 - len("25/25 ")
    assert tweet_budget(9) == 280 - len("9/9 ")
