"""Extraction (charset, title, body, failures) and the evaluation metric of bench/evaluation.py."""

from __future__ import annotations

import pytest
from bench.evaluation import (
    PageScore,
    load_dataset,
    score_corpus,
    score_page,
    shingles,
)

from tests.factories import DATASET
from threadr.articles.extraction import Article, extract
from threadr.articles.extraction.charset import decode
from threadr.articles.extraction.metadata import trim_site_name
from threadr.errors import Unprocessable

PARAGRAPHS = [
    "The harbour town woke early on Tuesday, when the first fishing boats came back with a "
    "catch that nobody in the village had seen in thirty years, and the market filled quickly.",
    "Local officials said the return of the cod, after decades of decline, was the result of "
    "strict quotas, cleaner water, and a long and sometimes bitter argument with the industry.",
    "Scientists were more cautious. One marine biologist, who has counted the fish every spring "
    "since 1998, said that a single good season proves little, and that patience is still needed.",
]

BOILERPLATE = """
<header class="site-header"><nav><a href="/">Home</a> <a href="/news">News</a></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies.</div>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on X</a></div>
"""

RELATED = """
<div class="related-articles"><h3>Related stories</h3><ul>
<li><a href="/a">Ten things about cod you never knew, explained by experts</a></li>
<li><a href="/b">Why the harbour council voted against the new pier project</a></li>
<li><a href="/c">Opinion: quotas work, but only if everyone keeps to them</a></li>
</ul></div>
<section id="comments"><h3>Comments</h3><p>Great article, thanks for writing it, I loved it!</p>
<p>I disagree with the biologist, the fish are clearly back for good this time around.</p></section>
<footer><p>Copyright 2024 Harbour News. All rights reserved. Terms and privacy policy.</p></footer>
"""


def make_page(
    *,
    head: str = "<title>Cod returns to the harbour | Harbour News</title>",
    paragraphs: list[str] | None = None,
    before: str = BOILERPLATE,
    after: str = RELATED,
    charset: str = "utf-8",
) -> str:
    body = "".join(f"<p>{p}</p>" for p in (PARAGRAPHS if paragraphs is None else paragraphs))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="{charset}">{head}</head><body>'
        f"{before}<main><article><h1>Cod returns to the harbour</h1>"
        f'<div class="byline">By Jane Doe</div><div class="article-body">{body}</div>'
        f"</article></main>{after}</body></html>"
    )


# --- charset -----------------------------------------------------------------------------------


def test_windows_1252_declared_in_meta() -> None:
    text = "Café owners — and their “naïve” customers — paid €5."
    html = make_page(paragraphs=[text, *PARAGRAPHS], charset="windows-1252")
    article = extract(html.encode("cp1252"))
    assert text in article.text


def test_latin1_label_is_read_as_windows_1252() -> None:
    html = make_page(paragraphs=["Prices rose by 5 € — says the “report”.", *PARAGRAPHS])
    html = html.replace('charset="utf-8"', 'charset="iso-8859-1"')
    assert "5 € — says the “report”" in extract(html.encode("cp1252")).text


def test_shift_jis_declared_in_http_equiv() -> None:
    sentence = "東京の港では、三十年ぶりに大量の魚が水揚げされ、市場は朝から多くの人でにぎわった。"
    paras = [sentence * 3, sentence * 2, *PARAGRAPHS]
    html = make_page(paragraphs=paras).replace(
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">',
    )
    assert sentence in extract(html.encode("shift_jis")).text


def test_header_charset_wins_over_meta() -> None:
    html = make_page(paragraphs=["Überall grüßen Bären.", *PARAGRAPHS], charset="utf-8")
    body = html.encode("cp1252")
    text = extract(body, content_type="text/html; charset=windows-1252").text
    assert "Überall grüßen Bären." in text


def test_bom_and_undeclared_pages_decode() -> None:
    assert decode("café".encode("utf-8-sig")) == "café"
    assert decode("é".encode("utf-16")) == "é"
    assert decode("<p>naïve café</p>".encode()) == "<p>naïve café</p>"
    assert extract(make_page().encode("utf-16")).text == "\n\n".join(PARAGRAPHS)


def test_utf8_declared_but_really_windows_1252_is_detected() -> None:
    text = "Le café était fermé, mais l’équipe a déjà prévu une réouverture très prochaine."
    html = f'<html><head><meta charset="utf-8"></head><body><p>{text}</p></body></html>'
    assert text in decode(html.encode("cp1252"))


# --- title and metadata ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "site", "expected"),
    [
        ("Cod returns | Harbour News", None, "Cod returns"),
        ("Cod returns to the harbour - Harbour News", None, "Cod returns to the harbour"),
        ("Cod returns to the harbour — Harbour News", None, "Cod returns to the harbour"),
        ("Harbour News | Cod returns", "Harbour News", "Cod returns"),
        ("Cod: a long - and bitter - story", None, "Cod: a long - and bitter - story"),
        ("No separator here", None, "No separator here"),
    ],
)
def test_trim_site_name(raw: str, site: str | None, expected: str) -> None:
    assert trim_site_name(raw, site) == expected


def test_title_prefers_og_then_json_ld_then_h1_then_title() -> None:
    og = '<meta property="og:title" content="The OG title">'
    ld = (
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "LD title"}'
        "</script>"
    )
    assert extract(make_page(head=og + ld).encode()).title == "The OG title"
    assert extract(make_page(head=ld + "<title>T | S</title>").encode()).title == "LD title"
    assert extract(make_page(head="").encode()).title == "Cod returns to the harbour"
    page = make_page().replace("<h1>Cod returns to the harbour</h1>", "")
    assert extract(page.encode()).title == "Cod returns to the harbour"


def test_metadata_fields() -> None:
    head = (
        '<meta property="og:site_name" content="Harbour News">'
        '<meta name="description" content="The cod is back.">'
        '<script type="application/ld+json">{"@graph": [{"@type": "WebSite"}, {"@type": '
        '"NewsArticle", "headline": "Cod", "author": [{"name": "Jane Doe"}], '
        '"datePublished": "2024-03-01T08:00:00Z"}]}</script>'
    )
    article = extract(make_page(head=head).encode())
    assert isinstance(article, Article)
    assert (article.site_name, article.byline, article.lang) == ("Harbour News", "Jane Doe", "en")
    assert article.published == "2024-03-01T08:00:00Z"
    assert article.description == "The cod is back."


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="canonical" href="/cod">', "https://news.example/cod"),
        (
            '<link rel="Alternate CANONICAL" href=" https://news.example/cod?x=1 ">',
            "https://news.example/cod?x=1",
        ),
        ('<meta property="og:url" content="https://news.example/og">', "https://news.example/og"),
        (
            '<meta property="og:url" content="https://news.example/og">'
            '<link rel="canonical" href="https://news.example/link">',
            "https://news.example/link",  # the link wins over og:url
        ),
        ('<link rel="canonical" href="">', None),
        (f'<link rel="canonical" href="/{"x" * 2100}">', None),  # no browser sends that
        ("", None),
    ],
)
def test_the_url_a_page_names_as_its_own(head: str, expected: str | None) -> None:
    article = extract(make_page(head=head).encode(), url="https://news.example/amp/cod")
    assert article.canonical_url == expected


# --- body --------------------------------------------------------------------------------------


def test_body_keeps_paragraphs_and_drops_boilerplate() -> None:
    article = extract(make_page().encode(), url="https://news.example/cod")
    assert article.text == "\n\n".join(PARAGRAPHS)
    assert article.word_count == sum(len(p.split()) for p in PARAGRAPHS)


def test_subheadings_lists_and_line_breaks_survive() -> None:
    paras = [*PARAGRAPHS[:2], "<h2>What comes next</h2>", PARAGRAPHS[2]]
    html = make_page(paragraphs=paras).replace("<p>What", "<h2>What").replace("<p><h2>", "<h2>")
    html = html.replace(
        "</div></article>",
        "<ul><li>Quotas stay in place until 2030.</li><li>Boats must report every catch.</li></ul>"
        "<p>Line one<br>line two</p></div></article>",
    )
    text = extract(html.encode()).text
    assert "\n\nWhat comes next\n\n" in text
    assert "Quotas stay in place until 2030.\n\nBoats must report every catch." in text
    assert "Line one\nline two" in text


def test_ad_labels_and_captions_are_dropped() -> None:
    paras = [PARAGRAPHS[0], "Advertisement", *PARAGRAPHS[1:]]
    html = make_page(paragraphs=paras).replace(
        "</div></article>",
        '<figure><img src="a.jpg"><figcaption>A boat. Photo: Agency</figcaption></figure>'
        "</div></article>",
    )
    text = extract(html.encode()).text
    assert "Advertisement" not in text
    assert "Photo: Agency" not in text


def test_json_ld_article_body_is_the_fallback_of_a_js_page() -> None:
    ld_body = "\n".join(PARAGRAPHS)
    head = (
        '<script type="application/ld+json">{"@type": "Article", "headline": "Cod", '
        f'"articleBody": "{ld_body}"}}</script>'
    ).replace("\n", "\\n")
    html = f'<html><head>{head}</head><body><div id="root">Loading…</div></body></html>'
    assert extract(html.encode()).text == "\n\n".join(PARAGRAPHS)


@pytest.mark.parametrize(
    "body",
    [
        '<div class="paywall"><p>Subscribe to read the rest of this story.</p></div>',
        '<div id="app"></div><script>window.render()</script>',
    ],
)
def test_pages_without_article_text_are_unprocessable(body: str) -> None:
    html = make_page(paragraphs=[PARAGRAPHS[0][:60]], after=body)
    with pytest.raises(Unprocessable) as caught:
        extract(html.encode())
    assert caught.value.code == "no_article"
    assert caught.value.detail.endswith(".")


def test_plain_text_passes_through() -> None:
    body = ("\r\n\r\n".join(PARAGRAPHS)).encode()
    article = extract(body, content_type="text/plain; charset=utf-8")
    assert article.text == "\n\n".join(PARAGRAPHS)
    assert article.title is None
    assert extract(body).text == article.text  # sniffed: no markup at all


def test_unsupported_media_type_is_unprocessable() -> None:
    with pytest.raises(Unprocessable) as caught:
        extract(b"%PDF-1.7 ...", content_type="application/pdf")
    assert caught.value.code == "unsupported_type"


def test_extract_is_deterministic() -> None:
    html = make_page().encode()
    assert extract(html) == extract(html)


# --- metric ------------------------------------------------------------------------------------


def test_shingles() -> None:
    assert shingles("") == {}
    assert shingles("one, two!") == {("one", "two"): 1}
    assert shingles("a b c d a b c d") == {
        ("a", "b", "c", "d"): 2,
        ("b", "c", "d", "a"): 1,
        ("c", "d", "a", "b"): 1,
        ("d", "a", "b", "c"): 1,
    }
    assert shingles("naïve café über straße") == {("naïve", "café", "über", "straße"): 1}


def test_score_page() -> None:
    assert score_page("a b c d e", "a b c d e") == PageScore(1.0, 0.0, 0.0)
    assert score_page("", "") == PageScore(0.0, 0.0, 0.0)
    # predicted: abcd bcde ; true: abcd bcdf -> tp 1, fp 1, fn 1
    s = score_page("a b c d e", "a b c d f")
    assert (s.tp, s.fp, s.fn) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert s.precision == pytest.approx(0.5)
    assert score_page("", "a b c d").recall == 0.0
    assert score_page("", "a b c d").precision is None


def test_score_corpus_is_f1_of_mean_precision_and_mean_recall() -> None:
    scores = [
        PageScore(0.5, 0.5, 0.0),  # P 0.5, R 1.0
        PageScore(1.0, 0.0, 0.0),  # P 1.0, R 1.0
        PageScore(0.0, 0.0, 1.0),  # nothing predicted: P undefined, R 0.0
    ]
    corpus = score_corpus(scores)
    assert corpus.precision == pytest.approx(0.75)
    assert corpus.recall == pytest.approx(2 / 3)
    assert corpus.f1 == pytest.approx(2 * 0.75 * (2 / 3) / (0.75 + 2 / 3))
    assert corpus.pages == 3


# --- dataset -----------------------------------------------------------------------------------


def test_corpus_f1_on_the_dataset() -> None:
    if not (DATASET / "ground-truth.json").is_file():
        pytest.skip(f"article-extraction dataset not found at {DATASET}")

    def text_of(page_html: bytes, url: str) -> str:
        try:
            return extract(page_html, url=url).text
        except Unprocessable:
            return ""

    pages = load_dataset(DATASET)
    corpus = score_corpus(score_page(text_of(p.html, p.url), p.truth) for p in pages)
    assert corpus.pages == len(pages) > 100
    assert corpus.f1 >= 0.93, corpus
