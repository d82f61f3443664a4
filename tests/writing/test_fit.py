"""Splitting text to fit: sentences (abbreviations included), clauses, words, and truncation."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadr.writing.fit import pack, split_sentences, truncate, tweet_budget
from threadr.writing.twittertext import weighted_length

from .texts import any_text, squeeze


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


@settings(max_examples=150, deadline=None)
@given(any_text, st.integers(23, 280))
def test_pack_fits_and_loses_nothing(text: str, budget: int) -> None:
    chunks = pack(text, budget)
    assert all(chunk and chunk == chunk.strip() for chunk in chunks)
    assert all(weighted_length(chunk) <= budget for chunk in chunks)
    assert squeeze("".join(chunks)) == squeeze(text)


def test_budget_reserves_the_widest_prefix() -> None:
    assert tweet_budget(25) == 280 - len("25/25 ")
    assert tweet_budget(9) == 280 - len("9/9 ")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short.", 100, "Short."),
        ("One. Two three four. Five six seven eight nine.", 30, "One. Two three four."),
        ("word " * 20, 23, "word word word word"),
        ("x" * 50, 10, "x" * 10),
        ("He said it. Then Dr. Smith arrived late and left.", 30, "He said it. Then Dr. Smith"),
        ("第一句。第二句。第三句很长的句子在这里", 12, "第一句。第二句。"),
        (
            "Dr. Smith went home. He slept well. And then more words",
            40,
            "Dr. Smith went home. He slept well.",
        ),
    ],
)
def test_truncation_prefers_sentence_ends(text: str, limit: int, expected: str) -> None:
    """Sentence ends are the splitter's own (the one rule for them): abbreviations are not
    ends, CJK full stops are without a space after them."""
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


_word = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=15),
    st.text(alphabet="àéîõüßçñÅØæ" + string.ascii_lowercase, min_size=1, max_size=12),
    st.text(alphabet="日本語文章漢字한국어", min_size=1, max_size=10),
    st.sampled_from(["😀", "👍🏽", "🇯🇵", "👨‍👩‍👧", "e.g.", "Dr.", "U.S.", "3.14", "—", "-"]),
    st.sampled_from(["example.com/a", "https://example.com/a/long/path?x=1", "bit.ly"]),
)
_words = st.lists(
    st.tuples(_word, st.sampled_from(["", ",", ".", "!", "?", ";", ":"])).map("".join),
    min_size=1,
    max_size=80,
)


@settings(max_examples=100, deadline=None)
@given(
    _words,
    st.lists(st.sampled_from([" ", " ", "  ", "\n", "\n\n"]), min_size=80, max_size=80),
    st.integers(40, 280),
)
def test_pack_keeps_every_word_whole_and_in_order(
    words: list[str], spaces: list[str], budget: int
) -> None:
    """No word that fits a tweet is ever cut: the chunks hold the text's words, in order."""
    text = "".join(word + space for word, space in zip(words, spaces, strict=False))
    chunks = pack(text, budget)
    assert [word for chunk in chunks for word in chunk.split()] == text.split()
    assert all(weighted_length(chunk) <= budget for chunk in chunks)
