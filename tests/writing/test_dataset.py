"""The offline writer on the 121 real pages of the dataset, as the service reads them (our
extraction, cut to MAX_CONTENT_LENGTH), with length=medium: every thread 6 to 9 tweets, every
tweet within 280, no heading glued to prose, and every source a passage the tweet quotes word for
word. (bench/offline_writer.py measures the same run: lengths and time per page.)"""

from __future__ import annotations

import gzip
from functools import cache

import pytest

from tests.factories import DATASET, make_settings
from threadr.articles.extraction import extract
from threadr.errors import Unprocessable
from threadr.writing.fit import truncate
from threadr.writing.numbering import number, unnumbered
from threadr.writing.offline import write_offline
from threadr.writing.options import Options

MEDIUM = Options(length="medium")
# A block of the article that ends like no sentence and is short: a section heading. Written
# out here (not the writer's own test) so that the check does not share the writer's blind spots.
_ENDS = tuple(".!?…:;,。！？」』)\"'”’")


@cache
def pages() -> list[tuple[str, str, str]]:
    """(id, title, text) of every dataset page that has an article, as the writer gets it."""
    html = DATASET / "html"
    if not html.is_dir():
        pytest.skip(f"the article dataset is not at {DATASET}; these tests need it")
    limit = make_settings().max_content_length
    found = []
    for path in sorted(html.glob("*.html.gz")):
        try:
            article = extract(gzip.decompress(path.read_bytes()))
        except Unprocessable:
            continue
        found.append((path.name.split(".")[0], article.title or "", truncate(article.text, limit)))
    return found


def headings(text: str) -> set[str]:
    return {
        block.strip()
        for block in text.split("\n\n")
        if block.strip() and len(block.split()) <= 10 and not block.rstrip().endswith(_ENDS)
    }


def test_every_page_gives_a_medium_thread_of_its_own_sentences() -> None:
    assert len(pages()) == 121
    for page, title, text in pages():
        tweets = number(write_offline(text, title, MEDIUM), MEDIUM)
        assert 6 <= len(tweets) <= 9, page
        titled = {title.strip()}
        labels = headings(text) - titled
        for tweet in tweets:
            assert tweet.character_count <= 280, (page, tweet)
            lines = [x for x in unnumbered(tweet, MEDIUM).removeprefix("🧵 ").split("\n") if x]
            for line in lines[:-1]:  # a line with another after it
                assert line.strip() not in labels, (page, tweet.content)
            if tweet.source is not None:
                passage = text[tweet.source.start : tweet.source.end]
                assert passage and passage in tweet.content, (page, tweet)
                assert "\n\n" not in passage, (page, tweet)  # one block: nothing glued to it
        assert sum(t.source is not None for t in tweets) >= len(tweets) - 2, page
