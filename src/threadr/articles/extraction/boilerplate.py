"""Boilerplate: what is never article text, by tag, role and class/id, before and after scoring."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from .measure import Measure

# Never article text, whatever their class says.
_DROP = (
    "script, style, noscript, template, iframe, svg, canvas, object, embed, video, audio, "
    "button, input, select, textarea, label, nav, aside, footer, dialog, menu, figcaption, "
    "[hidden], [aria-hidden=true], [role=navigation], [role=complementary], [role=banner], "
    "[role=contentinfo], [role=dialog], [role=alertdialog], [role=menu], [role=menubar], "
    '[role=search], [role=toolbar], [style*="display:none"], [style*="display: none"], '
    '[style*="visibility:hidden"], [style*="visibility: hidden"]'
)
# class/id words of boilerplate containers (readability's list, plus what news pages added since).
_UNLIKELY = re.compile(
    r"-ad-|(?:^|[\s_-])ads?(?:$|[\s_-])|ad-?(?:slot|unit|container|wrapper|break)|advert|"
    r"ai2html|banner|breadcrumb|combx|comment|community|cookie|consent|cover-wrap|disqus|"
    r"extra|footer|gdpr|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|"
    r"skyscraper|social|share|sharing|sponsor|supplemental|agegate|pagination|pager|popup|"
    r"modal|newsletter|subscri|signup|sign-up|promo|outbrain|taboola|recirc|trending|"
    r"popular|most-read|more-from|read-more|readmore|next-article|tags|toolbar|byline|"
    r"dateline|timestamp|caption|credit|(?:^|[\s_-])nav|navbar|navigation|masthead|"
    r"overlay|teaser|breaking|ticker|print-only|screen-reader|sr-only|visually-hidden|widget|"
    r"(?:^|[\s_-])cta(?:$|[\s_-])",
)
_MAYBE = re.compile(r"and|article|body|column|content|main|shadow|story|entry|post")
# Words no article container is named after; they override _MAYBE ("article-comments").
_ALWAYS = re.compile(
    r"comment|share|sharing|social|newsletter|cookie|consent|gdpr|outbrain|taboola|recirc|"
    r"related|promo|popup|modal|sr-only|visually-hidden|screen-reader|caption|byline|"
    r"breadcrumb|signup|sign-up|subscri|(?:^|[\s_-])(?:ads?|cta)(?:$|[\s_-])|advert"
)
_POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|post|text|blog|story|prose"
)
_NEGATIVE = re.compile(
    r"-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|foot|footer|"
    r"footnote|gdpr|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|"
    r"skyscraper|sponsor|shopping|tags|tool|widget|byline|author|date|caption|credit"
)
# Never removed for their class: inline text, and the roots of the page and of the article.
_KEEP_TAGS = frozenset(
    {"a", "b", "i", "em", "strong", "code", "sup", "sub", "mark", "abbr", "cite", "q", "small"}
    | {"time", "u", "s", "var", "kbd", "font", "html", "body", "main", "article"}
)
_ARTICLE_MARKERS = "h1, article, main, [itemprop=articleBody]"
_HEADINGS = "h2, h3, h4, h5, h6"
_BLOCKS = "div, section, ul, ol, table, form, figure, dl"
MIN_PARAGRAPH = 25


class Options:
    """Which of the riskier steps to run; each retry turns one more off (as readability does)."""

    __slots__ = ("clean", "strip_unlikely", "weigh_classes")

    def __init__(self, *, strip_unlikely: bool, weigh_classes: bool, clean: bool) -> None:
        self.strip_unlikely = strip_unlikely
        self.weigh_classes = weigh_classes
        self.clean = clean


PASSES = (
    Options(strip_unlikely=True, weigh_classes=True, clean=True),
    Options(strip_unlikely=False, weigh_classes=True, clean=True),
    Options(strip_unlikely=False, weigh_classes=False, clean=False),
)


def _class_id(node: LexborNode) -> str:
    attrs = node.attributes
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''}".strip().lower()


def class_weight(node: LexborNode) -> int:
    """+25 for a content-like class/id, -25 for a boilerplate-like one.

    Unlike readability, class and id together count once: a layout wrapper named
    `content-primary` with id `main` must not outweigh the paragraphs of a short article.
    """
    names = _class_id(node)
    if not names:
        return 0
    return (25 if _POSITIVE.search(names) else 0) - (25 if _NEGATIVE.search(names) else 0)


def _remove_all(nodes: list[LexborNode]) -> None:
    # Children before parents: a node freed with its parent must not be touched again.
    for node in reversed(nodes):
        node.decompose()


def strip_boilerplate(body: LexborNode, opts: Options) -> None:
    """Drop what is never article text, and containers whose class/id names boilerplate."""
    _remove_all(body.css(_DROP))
    if not opts.strip_unlikely:
        return
    measure = Measure(body, (_ARTICLE_MARKERS,))
    total = measure.chars(body)
    doomed = []
    verdicts: dict[str, bool] = {}  # pages repeat a few class names many times
    for node in body.css("[class], [id]"):
        if node.tag in _KEEP_TAGS:
            continue
        names = _class_id(node)
        unlikely = verdicts.get(names)
        if unlikely is None:
            unlikely = verdicts[names] = bool(_UNLIKELY.search(names)) and (
                not _MAYBE.search(names) or bool(_ALWAYS.search(names))
            )
        if not unlikely:
            continue
        # A container holding much of the page and its headline is a layout wrapper, whatever
        # it is called ("has-sidebar"); a comment thread can be long but never holds the <h1>.
        if measure.chars(node) > total * 0.4 and measure.count(node, _ARTICLE_MARKERS):
            continue
        doomed.append(node)
    _remove_all(doomed)


def clean(node: LexborNode, opts: Options) -> None:
    """Drop headings of the page (h1), link lists and thin blocks inside the chosen content."""
    _remove_all(node.css("h1"))
    measure = Measure(node, ("p", "img", "li"))
    doomed = [
        heading
        for heading in node.css(_HEADINGS)
        if measure.link_density(heading) > 0.33
        or (opts.weigh_classes and class_weight(heading) < 0)
    ]
    if doomed:
        _remove_all(doomed)
        measure = Measure(node, ("p", "img", "li"))
    if not opts.clean:
        return
    doomed = []
    for block in node.css(_BLOCKS):
        length = measure.stripped(block)
        weight = class_weight(block) if opts.weigh_classes else 0
        if weight < 0 and length < 200:
            doomed.append(block)
            continue
        density = measure.link_density(block)
        if density > 0.5:
            doomed.append(block)
            continue
        if measure.commas(block) >= 10:
            continue
        is_list = block.tag in {"ul", "ol", "dl"}
        paras = measure.count(block, "p")
        imgs = measure.count(block, "img")
        items = measure.count(block, "li") - 100
        if (
            (imgs > 1 and paras / imgs < 0.5 and length < 200)
            or (not is_list and items > paras)
            or (not is_list and length < MIN_PARAGRAPH and (imgs == 0 or imgs > 2))
            or (weight < 25 and density > 0.2 and length < 600)
        ):
            doomed.append(block)
    # A short paragraph that is mostly a link is a "read more" promo, not the story.
    for para in node.css("p"):
        if measure.stripped(para) < 200 and measure.link_density(para) > 0.5:
            doomed.append(para)
    _remove_all(doomed)
