"""The offline writer: an extractive summary of the article's own sentences, honouring every
option, each tweet fitting once numbered and pointing at the passage it quotes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadr.writing.numbering import budget, number
from threadr.writing.offline import write_offline
from threadr.writing.options import LENGTHS, Options
from threadr.writing.summary import CLOSERS
from threadr.writing.thread import Part, Span, Tweet
from threadr.writing.twittertext import has_emoji, weighted_length

from .texts import articles

HASHTAG = re.compile(r"(?<!\w)#\w+")


def article(paragraphs: int, sentences: int = 3) -> str:
    return "\n\n".join(
        " ".join(
            f"Paragraph {p} sentence {s} explains one more detail of the story in plain words."
            for s in range(sentences)
        )
        for p in range(paragraphs)
    )


def thread(text: str, title: str | None = None, **options: Any) -> list[Tweet]:
    chosen = Options(**options)
    return number(write_offline(text, title, chosen), chosen)


def assert_fits(parts: list[Part], options: Options, max_tweets: int = 25) -> None:
    """Bodies are unnumbered: each must fit once the widest number is put in."""
    assert len(parts) <= max_tweets
    for tweet in number(parts, options):
        assert tweet.content == tweet.content.strip() and tweet.content
        assert tweet.character_count == weighted_length(tweet.content)
        assert tweet.character_count <= (25_000 if options.format == "long_post" else 280)


def assert_grounded(text: str, tweets: list[Tweet]) -> None:
    """Every source is a passage of the article that the tweet quotes word for word."""
    for tweet in tweets:
        if tweet.source is not None:
            assert 0 <= tweet.source.start < tweet.source.end <= len(text)
            assert text[tweet.source.start : tweet.source.end] in tweet.content


NEWS = "\n\n".join(
    [
        "The city council voted 7 to 2 on Tuesday to build a new light rail line across the "
        "river, ending a decade of debate about how to move commuters downtown.",
        "Construction",
        "Work starts next spring and should take four years. The line will cost $1.2 billion, "
        "of which the state pays 40%. Officials expect 30,000 riders a day by 2030.",
        "Critics",
        "Opponents say the rail line favours downtown over the suburbs. They asked whether the "
        "money would not be better spent on buses? The council rejected a bus-only plan in May.",
        "What comes next",
        "The rail line still needs a federal permit, which officials expect within a year. "
        "Residents can comment on the route at public meetings this winter. The council will "
        "publish the final route map in March, together with the list of stations.",
        "Copyright 2024 Example News. All rights reserved.",
    ]
)


# --- the shape of a thread ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "title"), [("", None), ("  \n\n\t ", None), ("", "A Title")])
def test_nothing_to_say_gives_no_tweets(text: str, title: str | None) -> None:
    assert write_offline(text, title) == []


@pytest.mark.parametrize("text", ["Sure!", "1/3", "© 2024", "!!! ???"])
def test_chatter_numbering_and_furniture_alone_give_no_tweets(text: str) -> None:
    assert write_offline(text) == []


def test_a_text_that_fits_one_tweet_stays_one() -> None:
    assert write_offline("  Just one short note.  ") == [Part("Just one short note.", Span(2, 22))]
    assert [p.text for p in write_offline("Just one short note.", "My Post")] == [
        "🧵 My Post\n\nJust one short note."
    ]


def test_the_thread_is_hook_summary_closer_with_exact_sources() -> None:
    tweets = thread(NEWS, "Council approves light rail")
    assert tweets[0].content.startswith("1/")
    assert "🧵 Council approves light rail" in tweets[0].content
    assert tweets[-1].source is None and "“Council approves light rail”" in tweets[-1].content
    assert all(t.source is not None for t in tweets[1:-1])
    assert_grounded(NEWS, tweets)
    starts = [t.source.start for t in tweets if t.source is not None]
    assert starts == sorted(starts)  # in the article's order


def test_headings_are_never_glued_to_prose_and_furniture_is_left_out() -> None:
    tweets = thread(NEWS, None, length="long")
    for tweet in tweets:
        for heading in ("Construction", "Critics", "What comes next"):
            assert heading not in tweet.content
        assert "rights reserved" not in tweet.content


def test_without_a_title_the_lead_sentence_is_the_hook() -> None:
    tweets = thread(article(4))
    assert tweets[0].content.startswith("1/")
    assert "🧵 Paragraph 0 sentence 0 explains" in tweets[0].content
    assert tweets[0].source is not None
    assert "That's the gist." in tweets[-1].content


def test_a_headline_line_becomes_the_title() -> None:
    tweets = thread("Why Tests Matter\n\n" + article(5))
    assert "🧵 Why Tests Matter" in tweets[0].content
    assert "“Why Tests Matter”" in tweets[-1].content


def test_a_long_text_is_summarised_from_its_most_salient_sentences_in_order() -> None:
    paragraphs = [
        f"Lead{p} opens paragraph {p} with its main claim about the river, supported by "
        f"{p * 7} facts. "
        + " ".join(f"Filler {p}.{s} adds a little colour to the paragraph." for s in range(5))
        for p in range(40)
    ]
    text = "\n\n".join(paragraphs) + "\n\nSubscribe to our newsletter for more stories like this."
    tweets = thread(text, "Forty Points", length="long")
    assert 10 <= len(tweets) <= 15
    body = "\n".join(t.content for t in tweets[1:-1])
    assert "newsletter" not in body
    leads = [p for p in range(40) if f"Lead{p} " in body]
    assert len(leads) >= len(tweets) - 3  # the paragraph leads carry the points
    assert [body.index(f"Lead{p} ") for p in leads] == sorted(
        body.index(f"Lead{p} ") for p in leads
    )


# --- every option -------------------------------------------------------------------------------


@pytest.mark.parametrize("length", ["short", "medium", "long"])
def test_length_gives_a_count_in_its_range(length: str) -> None:
    low, high = LENGTHS[length]
    for paragraphs in (6, 20, 60):
        tweets = thread(article(paragraphs), "Title", length=length)
        assert low <= len(tweets) <= high


@pytest.mark.parametrize("count", [2, 3, 7, 12, 25])
def test_tweets_gives_exactly_that_many(count: int) -> None:
    assert len(thread(article(40), "Title", tweets=count, length="short")) == count


def test_a_short_article_cannot_reach_a_long_count() -> None:
    tweets = thread(article(1), "Title", length="long")
    assert 1 <= len(tweets) < 10  # ThreadWriter adds the length_unmet warning


def test_emoji_off_means_no_emoji_anywhere() -> None:
    text = (
        article(10) + "\n\nThe team celebrated the launch with cake 🎉 and a speech by the mayor."
    )
    for tweets in (
        thread(text, "Launch 🚀 day", emoji=False),
        thread("A note 🎉 here.", emoji=False),
    ):
        assert not any(has_emoji(t.content) for t in tweets)
    assert has_emoji(thread(text, "Launch day")[0].content)  # the default keeps the 🧵


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_hashtags_are_the_articles_key_words_on_the_last_tweet(count: int) -> None:
    tweets = thread(NEWS, "Council approves light rail", hashtags=count)
    tags = [tag for t in tweets for tag in HASHTAG.findall(t.content)]
    assert len(tags) == count
    assert all(tag in tweets[-1].content for tag in tags)
    assert all(
        tag[1:].casefold() in NEWS.casefold() + "council approves light rail" for tag in tags
    )


@pytest.mark.parametrize(
    ("numbering", "position", "pattern"),
    [
        ("1/n", "start", r"^{i}/{n} "),
        ("1.", "start", r"^{i}\. "),
        ("(1/n)", "start", r"^\({i}/{n}\) "),
        ("1/n", "end", r" {i}/{n}$"),
        ("(1/n)", "end", r" \({i}/{n}\)$"),
    ],
)
def test_numbering_styles_fit_inside_280(numbering: str, position: str, pattern: str) -> None:
    tweets = thread(NEWS + "\n\n" + article(40), "T", numbering=numbering,
                    numbering_position=position, tweets=25)  # fmt: skip
    assert len(tweets) == 25
    for tweet in tweets:
        assert re.search(pattern.format(i=tweet.number, n=25), tweet.content)
        assert tweet.character_count <= 280


def test_no_numbering_gives_the_whole_280() -> None:
    long = " ".join(
        f"Sentence {i} is a long one, written to fill a tweet to the brim." for i in range(4)
    )
    tweets = thread(long * 30, "T", numbering="none", tweets=5)
    assert not any(re.match(r"\d", t.content) for t in tweets)
    assert budget(5, Options(numbering="none")) == 280


def test_hook_question_asks() -> None:
    tweets = thread(NEWS, None, hook="question")
    assert tweets[0].content.rstrip().endswith("?") or "?" in tweets[0].content
    titled = thread(article(8), "The New Bridge", hook="question")
    assert "“The New Bridge”?" in titled[0].content and titled[0].source is None


def test_hook_statistic_leads_with_a_number() -> None:
    tweets = thread(NEWS, "Council approves light rail", hook="statistic")
    assert re.search(r"\d+%|\$\d", tweets[0].content)
    assert_grounded(NEWS, tweets)


def test_hook_bold_claim_is_the_most_central_sentence() -> None:
    text = "\n\n".join(
        [
            "It was a quiet morning at the harbour when the boats came in.",
            "Fishermen unloaded the catch and the gulls circled the docks.",
            "Overfishing is emptying the harbour: the harbour catch fell by half, harbour "
            "boats sail further, and harbour jobs are going.",
            "The harbour master says the harbour needs quotas, and the harbour council agrees.",
            "Harbour families worry about the harbour's future.",
        ]
    )
    summary, bold = thread(text, None, hook="summary"), thread(text, None, hook="bold_claim")
    assert "quiet morning" in summary[0].content
    assert "Overfishing is emptying the harbour" in bold[0].content
    assert_grounded(text, bold)


@pytest.mark.parametrize("tone", sorted(CLOSERS))
def test_tone_sets_the_closing_tweet(tone: str) -> None:
    with_title, without = CLOSERS[tone]
    assert (
        with_title.format(title="Title")[:30] in thread(article(8), "Title", tone=tone)[-1].content
    )
    assert without[:30] in thread(article(8), None, tone=tone)[-1].content


def test_a_long_post_is_one_post_of_up_to_25000() -> None:
    for length in ("short", "medium", "long", "auto"):
        tweets = thread(
            article(300), "The Long Read", format="long_post", length=length, hashtags=2
        )
        assert len(tweets) == 1
        post = tweets[0]
        assert post.content.startswith("The Long Read\n\n") and post.number == post.total == 1
        assert 280 < post.character_count <= 25_000
        assert len(HASHTAG.findall(post.content)) == 2
    assert thread(article(300), "T", format="long_post", length="long")[0].character_count > (
        thread(article(300), "T", format="long_post", length="short")[0].character_count
    )


# --- text that is not an article ------------------------------------------------------------------


@pytest.mark.parametrize("max_tweets", [1, 2, 3, 9, 10, 25, 100])
def test_the_cap_is_respected_and_bodies_fit(max_tweets: int) -> None:
    parts = write_offline(article(60), "Title", max_tweets=max_tweets)
    assert_fits(parts, Options(), max_tweets)
    assert parts[0].text.startswith("🧵 Title")


def test_text_without_sentence_punctuation_is_cut_between_words() -> None:
    words = [f"word{i}" for i in range(400)]
    tweets = thread(" ".join(words))
    assert len(tweets) >= 3
    tokens = [t for tweet in tweets[:-1] for t in tweet.content.split()[1:] if t != "🧵"]
    assert set(tokens) <= set(words)
    assert_grounded(" ".join(words), tweets)


def test_urls_stay_whole() -> None:
    url = "https://example.com/articles/2024/a-rather-long-slug-for-the-post?ref=threadr"
    tweets = thread(f"Read the announcement at {url} today, it matters. " * 15)
    assert all(url in t.content for t in tweets[1:-1])


def test_cjk_text_weighs_two_per_character() -> None:
    text = "日本語の文章です。これは二番目の文です！" * 40
    tweets = thread(text, "日本のタイトル", length="medium")
    assert 6 <= len(tweets) <= 9
    assert all(t.character_count <= 280 for t in tweets)
    assert all(t.content.endswith(("。", "！")) for t in tweets[1:-1])
    assert_grounded(text, tweets)


def test_emoji_sequences_are_never_split() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    tweets = thread(family * 400)
    assert len(tweets) >= 3
    for tweet in tweets[:-1]:
        body = tweet.content.split(" ", 1)[1].removeprefix("🧵 ")
        assert body and body.replace(family, "") == ""


def test_rejects_a_cap_below_one() -> None:
    with pytest.raises(ValueError, match="max_tweets"):
        write_offline("Some text.", max_tweets=0)


fragments = st.sampled_from(
    [
        *["Alpha beta gamma delta.", "Delta, epsilon", "Dr.", "Why?", "\n\n", "\n", " ", " "],
        *["日本語の文章です。", "https://example.com/path", "y" * 400, "\U0001f1ef\U0001f1f5"],
        *["\U0001f468\u200d\U0001f469\u200d\U0001f467", "Subscribe to our newsletter.", "42%"],
    ]
)
any_text = st.one_of(st.text(max_size=3000), st.lists(fragments, max_size=300).map("".join))
any_options = st.builds(
    Options,
    length=st.sampled_from(["auto", "short", "medium", "long"]),
    tweets=st.one_of(st.none(), st.integers(2, 25)),
    emoji=st.booleans(),
    hashtags=st.integers(0, 3),
    numbering=st.sampled_from(["1/n", "1.", "(1/n)", "none"]),
    numbering_position=st.sampled_from(["start", "end"]),
    hook=st.sampled_from(["summary", "question", "bold_claim", "statistic"]),
    format=st.sampled_from(["thread", "thread", "long_post"]),
)


@settings(max_examples=150, deadline=None)
@given(any_text, st.one_of(st.none(), st.text(max_size=300)), any_options, st.integers(2, 30))
def test_any_text_with_any_options_fits(
    text: str, title: str | None, options: Options, max_tweets: int
) -> None:
    parts = write_offline(text, title, options, max_tweets=max_tweets)
    assert_fits(parts, options, max_tweets)
    assert_grounded(text, number(parts, options))
    if not options.emoji:
        assert not any(has_emoji(p.text) for p in parts)


def test_every_article_gives_a_grounded_thread() -> None:
    for text in articles():
        tweets = thread(text)
        assert 1 <= len(tweets) <= 25
        assert_grounded(text, tweets)
