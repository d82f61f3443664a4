"""The offline writer: hook, packed or summarised body, closer, and every body fitting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadr.writing.fit import tweet_budget
from threadr.writing.offline import write_offline
from threadr.writing.twittertext import weighted_length

from .texts import articles, squeeze


def assert_fits(bodies: list[str], max_tweets: int = 25) -> None:
    """Bodies are unnumbered: each must still fit once the widest "n/n " is put in front."""
    assert len(bodies) <= max_tweets
    prefix = f"{len(bodies)}/{len(bodies)} "
    for body in bodies:
        assert body and body == body.strip()
        assert weighted_length(prefix + body) <= 280
        assert weighted_length(body) <= tweet_budget(max_tweets)


def article(paragraphs: int, sentences: int = 3) -> str:
    return "\n\n".join(
        " ".join(
            f"Paragraph {p} sentence {s} explains one more detail of the story in plain words."
            for s in range(sentences)
        )
        for p in range(paragraphs)
    )


@pytest.mark.parametrize(("text", "title"), [("", None), ("  \n\n\t ", None), ("", "A Title")])
def test_nothing_to_say_gives_no_tweets(text: str, title: str | None) -> None:
    assert write_offline(text, title) == []


def test_a_text_that_fits_one_tweet_stays_one() -> None:
    assert write_offline("  Just one short note.  ") == ["Just one short note."]
    assert write_offline("Just one short note.", "My Post") == [
        "🧵 My Post\n\nJust one short note."
    ]


def test_a_short_article_is_kept_whole_between_hook_and_closer() -> None:
    text = article(6)
    bodies = write_offline(text, "How Things Work")
    assert_fits(bodies)
    assert bodies[0] == (
        "🧵 How Things Work\n\n"
        "Paragraph 0 sentence 0 explains one more detail of the story in plain words."
    )
    assert "“How Things Work”" in bodies[-1] and "share" in bodies[-1]
    lead = "Paragraph 0 sentence 0 explains one more detail of the story in plain words."
    assert squeeze("".join(bodies[1:-1])) == squeeze(text).removeprefix(squeeze(lead))
    assert all(body.endswith(".") for body in bodies[1:-1])  # cut at sentence ends only


def test_without_a_title_the_lead_sentence_is_the_hook() -> None:
    bodies = write_offline(article(4))
    assert bodies[0].startswith("🧵 Paragraph 0 sentence 0 explains")
    assert bodies[-1].startswith("That's the gist.")


def test_a_headline_line_becomes_the_title() -> None:
    bodies = write_offline("Why Tests Matter\n\n" + article(5))
    assert bodies[0].startswith("🧵 Why Tests Matter\n\nParagraph 0")
    assert "“Why Tests Matter”" in bodies[-1]


def test_a_long_text_is_summarised_from_paragraph_leads_in_order() -> None:
    paragraphs = [
        f"Lead{p} opens paragraph {p} with its main claim, supported by {p * 7} facts. "
        + " ".join(f"Filler {p}.{s} adds a little colour to the paragraph." for s in range(5))
        for p in range(40)
    ]
    text = "\n\n".join(paragraphs) + "\n\nSubscribe to our newsletter for more stories like this."
    bodies = write_offline(text, "Forty Points")
    assert_fits(bodies)
    assert len(bodies) == 25
    assert "short version of “Forty Points”" in bodies[-1]
    body = "\n".join(bodies[:-1])
    assert all(f"Lead{p} " in body for p in range(40))
    positions = [body.index(f"Lead{p} ") for p in range(40)]
    assert positions == sorted(positions)
    assert "newsletter" not in body


def test_page_furniture_is_left_out() -> None:
    text = (
        article(3)
        + "\n\nThe copyright lawsuit continues in court next week."
        + "\n\nAdvertisement\n\nCopyright 2019 Example News. All rights reserved."
    )
    body = "\n".join(write_offline(text))
    assert "copyright lawsuit" in body
    assert "Advertisement" not in body and "rights reserved" not in body


@pytest.mark.parametrize("max_tweets", [1, 2, 3, 9, 10, 25, 100])
def test_the_cap_is_respected_and_bodies_fit_the_prefix(max_tweets: int) -> None:
    bodies = write_offline(article(60), "Title", max_tweets=max_tweets)
    assert_fits(bodies, max_tweets)
    assert bodies[0].startswith("🧵 Title")
    if max_tweets >= 3:
        summarised = max_tweets < 60  # 60 paragraphs of 3 sentences take about 60 tweets
        assert bodies[-1].startswith("That's the short version") == summarised
        assert "share" in bodies[-1]


def test_text_without_sentence_punctuation_is_cut_between_words() -> None:
    words = [f"word{i}" for i in range(400)]
    bodies = write_offline(" ".join(words))
    assert_fits(bodies)
    tokens = [t for body in bodies[:-1] for t in body.split() if t != "🧵"]
    assert tokens == words


def test_a_word_longer_than_a_tweet_is_the_only_thing_cut() -> None:
    text = "Intro sentence here. " + "z" * 700 + " outro and more words."
    bodies = write_offline(text)
    assert_fits(bodies)
    assert [len(body) for body in bodies[:-1]] == [273, 274, 198]  # the hook is topped up
    assert squeeze("".join(bodies[:-1])) == "🧵" + squeeze(text)
    assert bodies[-2].endswith("z outro and more words.")


def test_urls_stay_whole() -> None:
    url = "https://example.com/articles/2024/a-rather-long-slug-for-the-post?ref=threadr"
    bodies = write_offline(f"Read the announcement at {url} today. " * 15)
    assert_fits(bodies)
    assert sum(body.count(url) for body in bodies) == 15


def test_cjk_text_weighs_two_per_character() -> None:
    text = "日本語の文章です。これは二番目の文です！" * 40
    bodies = write_offline(text, "日本のタイトル")
    assert_fits(bodies)
    assert bodies[0] == "🧵 日本のタイトル\n\n日本語の文章です。"
    assert all(len(body) <= tweet_budget(25) // 2 for body in bodies[1:-1])
    assert all(body.endswith(("。", "！")) for body in bodies[1:-1])


def test_emoji_sequences_are_never_split() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    bodies = write_offline(family * 400)
    assert_fits(bodies)
    assert all(body.replace("🧵 ", "").replace(family, "") == "" for body in bodies[:-1])


def test_rejects_a_cap_below_one() -> None:
    with pytest.raises(ValueError, match="max_tweets"):
        write_offline("Some text.", max_tweets=0)


fragments = st.sampled_from(
    [
        *["Alpha beta gamma.", "Delta, epsilon", "Dr.", "Why?", "\n\n", "\n", " ", " ", " "],
        *["日本語の文章です。", "https://example.com/path", "y" * 400, "\U0001f1ef\U0001f1f5"],
        *["\U0001f468\u200d\U0001f469\u200d\U0001f467", "Subscribe to our newsletter."],
    ]
)
any_text = st.one_of(st.text(max_size=3000), st.lists(fragments, max_size=300).map("".join))


@settings(max_examples=100, deadline=None)
@given(any_text, st.one_of(st.none(), st.text(max_size=300)), st.integers(1, 30))
def test_any_text_gives_fitting_bodies(text: str, title: str | None, max_tweets: int) -> None:
    assert_fits(write_offline(text, title, max_tweets=max_tweets), max_tweets)


def test_every_article_gives_fitting_bodies() -> None:
    for article in articles():
        bodies = write_offline(article)
        assert_fits(bodies)
        assert 3 <= len(bodies) <= 25
        assert bodies[0].startswith("🧵 ")
        assert "share" in bodies[-1]
