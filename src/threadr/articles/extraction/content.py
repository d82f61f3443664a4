"""Choosing the article container: readability-style content scoring of the page paragraphs."""

from __future__ import annotations

from collections.abc import Callable

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .boilerplate import MIN_PARAGRAPH, Options, class_weight, clean, strip_boilerplate
from .measure import COMMAS, Measure
from .text import render

_TAG_SCORE = {
    "div": 5, "article": 8, "section": 3, "main": 5, "pre": 3, "td": 3, "blockquote": 3,
    "address": -3, "ol": -3, "ul": -3, "dl": -3, "dd": -3, "dt": -3, "li": -3, "form": -3,
    "h1": -5, "h2": -5, "h3": -5, "h4": -5, "h5": -5, "h6": -5, "th": -5,
}  # fmt: skip
_ROOTS = frozenset({"html", "-document"})
# A paragraph of prose: long enough and hardly linked (what a teaser list or a menu is not).
PROSE_CHARS = 80
PROSE_LINKS = 0.25


class Candidate:
    """A container that paragraphs gave points to."""

    __slots__ = ("node", "score")

    def __init__(self, node: LexborNode, score: float) -> None:
        self.node = node
        self.score = score


class Scores:
    """Candidates by node, and the page measured as it was scored."""

    __slots__ = ("candidates", "measure", "prose")

    def __init__(self, measure: Measure) -> None:
        self.measure = measure
        self.candidates: dict[int, Candidate] = {}
        # The characters of prose in paragraphs inside an element (set once all are scored).
        self.prose: Callable[[LexborNode], int] = lambda node: 0


def score_paragraphs(body: LexborNode, opts: Options) -> Scores:
    """Each paragraph gives points to its container and, less and less, to four ancestors.

    Points grow with length and commas (readability's measure of prose); every ancestor also
    sums the prose it holds, which decides later how far up the article reaches.
    """
    measure = Measure(body, ("article, h1",))
    scores = Scores(measure)
    own_prose: dict[int, int] = {}  # by container
    paragraphs: list[tuple[LexborNode, LexborNode | None]] = [
        (p, p.parent) for p in body.css("p, pre, td")
    ]
    # A div with text of its own is a paragraph and its own container (readability wraps such
    # text in a <p>, which makes the div the paragraph's parent).
    paragraphs += [
        (d, d) for d in body.css("div") if len(d.text(deep=False).strip()) >= MIN_PARAGRAPH
    ]
    for para, container in paragraphs:
        if container is None:
            continue
        if para is container:  # its own text only: cheap, and what made it a paragraph
            text = para.text(deep=False)
            length, commas = len(text.strip()), len(COMMAS.findall(text))
        else:
            length, commas = measure.stripped(para), measure.commas(para)
        if length < MIN_PARAGRAPH:
            continue
        points = 1 + commas + min(length // 100, 3)
        if length >= PROSE_CHARS and measure.link_density(para) < PROSE_LINKS:
            own_prose[container.mem_id] = own_prose.get(container.mem_id, 0) + length
        ancestor: LexborNode | None = container
        level = 0
        while ancestor is not None and ancestor.tag not in _ROOTS and level < 5:
            cand = scores.candidates.get(ancestor.mem_id)
            if cand is None:
                base = _TAG_SCORE.get(ancestor.tag or "", 0)
                if opts.weigh_classes:
                    base += class_weight(ancestor)
                cand = scores.candidates[ancestor.mem_id] = Candidate(ancestor, float(base))
            cand.score += points / (1 if level == 0 else 2 if level == 1 else level * 3)
            ancestor = ancestor.parent
            level += 1
    scores.prose = measure.summer(own_prose)
    return scores


def _is_inside(node: LexborNode, ancestor: LexborNode) -> bool:
    key = ancestor.mem_id
    parent = node.parent
    while parent is not None:
        if parent.mem_id == key:
            return True
        parent = parent.parent
    return False


def top_candidate(scores: Scores) -> Candidate | None:
    """The best-scoring container after link density, moved up where readability moves it."""
    candidates = scores.candidates
    scored = [c for c in candidates.values() if c.score > 0]
    if not scored:
        return None
    best_raw = max(c.score for c in scored)
    for cand in scored:
        if cand.score >= best_raw * 0.2:  # link density only matters for contenders
            cand.score *= 1 - scores.measure.link_density(cand.node)
    ranked = sorted(scored, key=lambda c: c.score, reverse=True)
    top = ranked[0]
    # Several near-equal candidates under one ancestor: the article is that ancestor.
    close = [c.node for c in ranked[1:6] if c.score >= top.score * 0.75]
    if len(close) >= 2:
        ancestor = top.node.parent
        while ancestor is not None and ancestor.tag not in {"body", "html"}:
            if sum(1 for c in close if _is_inside(c, ancestor)) >= 2:
                top = candidates.get(ancestor.mem_id) or Candidate(ancestor, top.score)
                break
            ancestor = ancestor.parent
    # Climb while the parent scores better: the paragraphs are split over sibling blocks.
    last = top.score
    parent = top.node.parent
    while parent is not None and parent.tag not in {"body", "html"}:
        above = candidates.get(parent.mem_id)
        if above is None or above.score < top.score / 3:
            break
        if above.score > last:
            top = above
        last = above.score
        parent = parent.parent
    return _widen_to_prose(top, scores)


def _widen_to_prose(top: Candidate, scores: Scores) -> Candidate:
    """Move up to the highest ancestor that adds prose and is still mostly prose.

    Long articles are often cut into sections by figures, pull quotes and ads, deeper than
    readability's five levels reach; an ancestor whose text is still mostly paragraphs of
    prose, and that holds no second article or headline, is the article.
    """
    measure = scores.measure
    best, best_prose = top.node, scores.prose(top.node)
    ancestor = best.parent
    while ancestor is not None and ancestor.tag not in _ROOTS:
        prose = scores.prose(ancestor)
        if prose >= best_prose * 1.2 + PROSE_CHARS:
            if prose < 0.6 * measure.chars(ancestor) or measure.count(ancestor, "article, h1") > 1:
                break
            best, best_prose = ancestor, prose
        ancestor = ancestor.parent
    if best is top.node:
        return top
    cand = scores.candidates.get(best.mem_id)
    return Candidate(best, max(top.score, cand.score if cand else 0.0))


def gather(top: Candidate, scores: Scores) -> list[LexborNode]:
    """The top candidate plus siblings that look like more of the same article."""
    candidates = scores.candidates
    parent = top.node.parent
    if parent is None or parent.tag in _ROOTS or top.node.tag == "body":
        return [top.node]
    threshold = max(10.0, top.score * 0.2)
    top_class = top.node.attributes.get("class")
    kept = []
    for sibling in parent.iter():
        if sibling.mem_id == top.node.mem_id:
            kept.append(sibling)
            continue
        cand = candidates.get(sibling.mem_id)
        same_class = top_class and sibling.attributes.get("class") == top_class
        bonus = top.score * 0.2 if same_class else 0.0
        if cand is not None and cand.score + bonus >= threshold:
            kept.append(sibling)
        elif sibling.tag == "p":
            text = sibling.text().strip()  # siblings do not overlap: linear in all
            density = scores.measure.link_density(sibling, len(text))
            if (len(text) > PROSE_CHARS and density < PROSE_LINKS) or (
                0 < len(text) <= PROSE_CHARS
                and density == 0
                and text.endswith((".", "!", "?", "”", '"'))
            ):
                kept.append(sibling)
    return kept


def extract_body(tree: LexborHTMLParser, opts: Options) -> str:
    """The article text of a parsed page under one set of options ("" when nothing qualifies).

    The tree is modified: parse again for another pass.
    """
    body = tree.body
    if body is None:
        return ""
    strip_boilerplate(body, opts)
    scores = score_paragraphs(body, opts)
    top = top_candidate(scores)
    if top is None:
        return ""
    nodes = gather(top, scores)
    for node in nodes:
        clean(node, opts)
    return render(nodes)
