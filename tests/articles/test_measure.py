"""Measure: its answers equal what the tree says, and it refuses pages no article needs."""

from __future__ import annotations

import pytest
from bench.evaluation import load_dataset
from selectolax.lexbor import LexborHTMLParser, LexborNode

from tests.factories import DATASET
from threadr.articles.extraction.measure import COMMAS, MAX_DEPTH, MAX_NODES, Measure, TooComplex

MARKUP = """<html><body><div id=a class=x>  <p>One, two <a href=#>link</a> three.</p>
<p> </p><!-- c --><div>  lead <b>bold</b>  <a>x</a><a>yy</a> </div><table><tr><td>cell,
<table><tr><td> inner、cell </td></tr></table></td></tr></table><ul><li>a</li><li>
</li></ul><img><img></div><p></p></body></html>"""


def what_the_tree_says(node: LexborNode) -> tuple[int, ...]:
    text = node.text()
    return (
        len(text),
        len(text.strip()),
        len(COMMAS.findall(text)),
        sum(len(a.text()) for a in node.css("a")),
        len(node.css("p")),
        len(node.css("li, img")),
    )


def what_measure_says(measure: Measure, node: LexborNode) -> tuple[int, ...]:
    return (
        measure.chars(node),
        measure.stripped(node),
        measure.commas(node),
        measure.link_chars(node),
        measure.count(node, "p"),
        measure.count(node, "li, img"),
    )


def compare(html: str | bytes) -> int:
    tree = LexborHTMLParser(html)
    assert tree.body is not None
    measure = Measure(tree.body, ("p", "li, img"))
    elements = tree.body.css("*")
    for node in elements:
        assert what_measure_says(measure, node) == what_the_tree_says(node), node.html
    return len(elements)


def test_measure_equals_the_tree_on_odd_markup() -> None:
    assert compare(MARKUP) > 15


def test_measure_equals_the_tree_on_every_element_of_the_dataset() -> None:
    if not (DATASET / "ground-truth.json").is_file():
        pytest.skip(f"article-extraction dataset not found at {DATASET}")
    checked = sum(compare(page.html) for page in load_dataset(DATASET)[::3])
    assert checked > 20_000


def test_sums_over_subtrees() -> None:
    tree = LexborHTMLParser("<body><div id=a><p id=b></p><div id=c><p id=d></p></div></div>")
    assert tree.body is not None
    measure = Measure(tree.body)
    points = {tree.css_first(f"#{k}").mem_id: v for k, v in (("b", 1), ("c", 10), ("d", 100))}  # type: ignore[union-attr]
    total = measure.summer(points)
    assert [total(tree.css_first(f"#{k}")) for k in "abcd"] == [111, 1, 110, 100]  # type: ignore[arg-type]


def test_a_page_nested_deeper_than_the_cap_is_refused() -> None:
    tree = LexborHTMLParser("<body>" + "<div>" * (MAX_DEPTH + 1) + "x")
    assert tree.body is not None
    with pytest.raises(TooComplex, match="nested more than"):
        Measure(tree.body)
    Measure(LexborHTMLParser("<body>" + "<div>" * (MAX_DEPTH - 2) + "x").body)  # type: ignore[arg-type]


def test_a_page_of_too_many_nodes_is_refused() -> None:
    tree = LexborHTMLParser("<body>" + "<i></i>" * MAX_NODES)
    assert tree.body is not None
    with pytest.raises(TooComplex, match="more than"):
        Measure(tree.body)
