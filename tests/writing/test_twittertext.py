"""X's weighted length: known values from the twitter-text v3 rules, and its properties."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from threadr.source import long_mark_runs
from threadr.writing.twittertext import (
    _SINGLES,
    MAX_WEIGHTED_LENGTH,
    URL_LENGTH,
    exceeds,
    fitting_prefix,
    stream_safe,
    weighted_length,
)

from .texts import any_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("Hello, world!", 13),
        ("line\nbreak\ttab", 14),
        ("日本語", 6),  # CJK is outside the light ranges: 2 each
        ("한국어 텍스트", 13),
        ("café naïve façade", 17),  # Latin-1 and Latin Extended weigh 1
        ("cafe\u0301", 4),  # NFC composes e + combining acute into one é
        ("Привет мир", 10),  # Cyrillic is below U+1100
        ("“quoted” — ‘ok’", 15),  # U+2010–U+201F punctuation weighs 1
        ("…", 2),  # U+2026 sits between the light ranges
        ("′″", 2),  # primes, U+2032–U+2037, weigh 1
        ("\u2000\u200a\u200d", 3),  # spaces and joiners U+2000–U+200D weigh 1
    ],
)
def test_text_weights(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\U0001f600", 2),  # 😀
        ("\U0001f44d\U0001f3fd", 2),  # 👍🏽 skin tone
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", 2),  # family, 7 points
        ("\U0001f3f3\ufe0f\u200d\U0001f308", 2),  # rainbow flag
        ("\U0001f9d1\U0001f3fd\u200d\U0001f4bb", 2),  # technologist, skin tone
        ("\U0001f1ef\U0001f1f5", 2),  # 🇯🇵
        ("\U0001f1ef\U0001f1f5\U0001f1fa\U0001f1f8", 4),  # two flags
        ("\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", 2),  # Scotland
        ("1\ufe0f\u20e3", 2),  # keycap
        ("\u2764\ufe0f", 2),  # ❤️
        ("\u2764", 2),
        ("\u00a9", 1),  # © alone is text (twemoji wants VS16) ...
        ("\u00a9\ufe0f", 2),  # ... and an emoji with it
        ("Great job \U0001f44f\U0001f44f\U0001f44f", 16),
        ("\U00020000", 2),  # a CJK extension B ideograph, outside the BMP
    ],
)
def test_emoji_sequences_weigh_two(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", URL_LENGTH),
        ("www.foo.co.uk/path", URL_LENGTH),
        ("docs.github.io", URL_LENGTH),
        ("github.io", 9),  # name + ccTLD without a path is not linked
        ("github.io/threadr", URL_LENGTH),
        ("openai.com/research/some-very-long-slug-that-goes-on-and-on-forever", URL_LENGTH),
        ("https://example.com", URL_LENGTH),
        ("https://example.com/a/b/c?x=1&y=2#frag", URL_LENGTH),
        ("http://t.co", URL_LENGTH),
        ("https://localhost:8000/x", URL_LENGTH),  # a scheme makes it a link, TLD or not
        ("https://пример.рф", URL_LENGTH),
        ("t.co", URL_LENGTH),
        ("bit.ly/abc", URL_LENGTH),
        ("bit.ly", 6),  # name + ccTLD without a path is not linked
        ("file.txt", 8),
        ("e.g.", 4),
        ("i.e. that", 9),
        ("Node.js", 7),
        ("3.14159", 7),
        ("user@example.com", 16),  # an address, not a link
        ("foo_bar.com", 11),
        ("example.com2", 12),
    ],
)
def test_urls(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Read https://example.com/post.", 5 + URL_LENGTH + 1),  # the full stop is not the link's
        ("(see example.com/a)", 5 + URL_LENGTH + 1),
        ("Visit example.com, then reply", 6 + URL_LENGTH + 12),
        ("https://en.wikipedia.org/wiki/Foo_(bar) ok", URL_LENGTH + 3),
        ("a https://a.com b https://b.org/x c", 2 + URL_LENGTH + 3 + URL_LENGTH + 2),
        ("詳しくはexample.comへ", 8 + URL_LENGTH + 2),  # glued to Japanese text
        ("https://example.com今日は", URL_LENGTH + 6),
        ("Link: example.com \U0001f517", 6 + URL_LENGTH + 1 + 2),
    ],
)
def test_text_around_urls(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


def test_the_280_boundary() -> None:
    assert MAX_WEIGHTED_LENGTH == 280
    assert weighted_length("a" * 280) == 280
    assert weighted_length("a" * 281) == 281
    assert weighted_length("日" * 140) == 280
    assert weighted_length("日" * 139 + "a") == 279
    assert weighted_length("\U0001f600" * 140) == 280
    url_tweet = "x" * 256 + " https://example.com/" + "p" * 500
    assert weighted_length(url_tweet) == 280


def test_fitting_prefix_keeps_clusters_whole() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    text = family * 200
    cut = fitting_prefix(text, 275)
    assert cut % len(family) == 0
    assert weighted_length(text[:cut]) == 274
    accents = "e\u0301" * 300
    cut = fitting_prefix(accents, 100)
    assert accents[cut - 1] == "\u0301"
    assert weighted_length(accents[:cut]) == 100
    assert fitting_prefix("日本語", 1) == 1  # one character even when it cannot fit
    zalgo = "a" + "\u0301\u0302\u0303" * 200
    assert weighted_length(zalgo[: fitting_prefix(zalgo, 274)]) == 274


ascii_words = st.text(alphabet=string.ascii_letters + string.digits + " ,;!?'-\n", max_size=400)


@given(ascii_words)
def test_ascii_without_urls_weighs_its_length(text: str) -> None:
    assert weighted_length(text) == len(text)


@given(st.text(max_size=300))
def test_weight_is_bounded_by_the_characters(text: str) -> None:
    weight = weighted_length(text)
    assert weight >= 0
    if "." not in text and "://" not in text:
        assert weight <= 2 * len(unicodedata.normalize("NFC", text))


@given(st.integers(1, 99), st.integers(1, 99), st.text(max_size=300))
def test_a_numbering_prefix_adds_exactly_its_length(i: int, n: int, body: str) -> None:
    # finalize relies on this: "i/n " never merges with the text into a link or an emoji.
    body = body.strip()
    prefix = f"{i}/{n} "
    assert weighted_length(prefix + body) == len(prefix) + weighted_length(body)


@given(st.text(min_size=1, max_size=600), st.integers(2, 280))
def test_fitting_prefix_fits(text: str, budget: int) -> None:
    cut = fitting_prefix(text, budget)
    assert 0 < cut <= len(text)
    assert weighted_length(text[:cut]) <= budget


@given(any_text, st.integers(1, 300))
def test_exceeds_is_weighing_against_the_budget(text: str, budget: int) -> None:
    assert exceeds(text, budget) == (weighted_length(text) > budget)


@pytest.mark.parametrize(
    "text",
    ["a" * 2000, "日本" * 500, "e\u0301" * 700, "\U0001f600" * 900, "\u1100\u1161" * 600],
)
def test_exceeds_reads_a_prefix_only_where_it_decides(text: str) -> None:
    for budget in (20, 274, 2000):
        assert exceeds(text, budget) == (weighted_length(text) > budget)
        assert exceeds(text + " example.com", budget) == (
            weighted_length(text + " example.com") > budget
        )


def test_the_starters_stream_safe_counts_as_marks_are_all_there_are() -> None:
    """Only these starters decompose into marks, which NFC sorts along with a run of them."""
    found = {
        char
        for char in map(chr, range(0x110000))
        if not unicodedata.combining(char)
        and unicodedata.combining(unicodedata.normalize("NFD", char)[:1] or "a")
    }
    assert found == set("\u0f73\u0f75\u0f81")
    assert stream_safe("\u0f40" + "\u0f73" * 40) == "\u0f40" + "\u0f73" * 30


def test_the_characters_taken_as_clusters_of_their_own_never_join() -> None:
    joiners = {"Mn", "Mc", "Me", "Cf"}
    for code in range(0x110000):
        char = chr(code)
        if _SINGLES.fullmatch(char):
            assert unicodedata.category(char) not in joiners, hex(code)
            assert not 0x1F1E6 <= code <= 0x1F1FF and not 0x1F3FB <= code <= 0x1F3FF, hex(code)


# Text in which no link can start or end: twitter-text's links need a dot (or a scheme's ":/").
linkless = st.text(st.characters(codec="utf-8", exclude_characters="./:@#$"), max_size=200)


@settings(deadline=None)
@given(linkless, linkless)
def test_weight_is_counted_locally_across_a_space(left: str, right: str) -> None:
    """Counting has no long reach: what a space separates is weighed apart (a cluster or an
    emoji sequence never spans it, and NFC never reorders across it)."""
    assert weighted_length(f"{left} {right}") == weighted_length(left) + 1 + weighted_length(right)


@settings(deadline=None)
@given(st.text(max_size=300))
def test_weight_does_not_depend_on_the_normalisation_form(text: str) -> None:
    decomposed = unicodedata.normalize("NFD", text)
    assume(not long_mark_runs(decomposed))
    assert weighted_length(decomposed) == weighted_length(text)


@settings(deadline=None)
@given(
    st.text(alphabet=string.ascii_letters + " ", max_size=100), st.sampled_from(["日", "한", "😀"])
)
def test_each_wide_character_weighs_two(text: str, wide: str) -> None:
    for count in (1, 2, 7):
        assert weighted_length(text + wide * count) == len(text) + 2 * count
