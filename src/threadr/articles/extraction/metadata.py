"""Page metadata: title (with the site-name suffix trimmed), byline, language, JSON-LD article,
the URL the page names as its own (canonical)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from selectolax.lexbor import LexborHTMLParser

_SPACES = re.compile(r"\s+")
# " | Site", " - Site", " — Site", " – Site", " :: Site", " · Site", " • Site"
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—·•»]|::)\s+")
_ARTICLE_TYPES = frozenset(
    {"article", "newsarticle", "blogposting", "reportage", "analysisnewsarticle", "report"}
    | {"opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "techarticle"}
    | {"scholarlyarticle", "socialmediaposting", "liveblogposting", "review", "webpage"}
    | {"medicalwebpage", "creativework", "posting"}
)
_json = msgspec.json.Decoder()
# Longest metadata a page may give, in characters: well above any real title (news sites stay
# under 150) and byline, and a bound on what a page can make us store, send and write about.
MAX_TITLE = 300
MAX_FIELD = 500


class Metadata(msgspec.Struct):
    title: str | None = None
    byline: str | None = None
    lang: str | None = None
    description: str | None = None
    site_name: str | None = None
    published: str | None = None
    ld_body: str | None = None  # JSON-LD articleBody, a signal and a fallback for the body
    paywalled: bool = False  # JSON-LD isAccessibleForFree: false
    canonical: str | None = None  # <link rel="canonical">, else og:url: as written (maybe relative)


def squash(text: str) -> str:
    """Collapse every run of whitespace to one space and trim."""
    return _SPACES.sub(" ", text).strip()


def clip(text: str | None, limit: int) -> str | None:
    """`text` cut to at most `limit` characters, at a space when there is one in its last half."""
    if text is None or len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space >= limit // 2 else head).rstrip() + "…"


def _meta(tree: LexborHTMLParser) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
        value = attrs.get("content")
        if key and value and (key := key.strip().lower()) not in found:
            found[key] = squash(value)
    return found


def _canonical(tree: LexborHTMLParser) -> str | None:
    """The target of the page's first `<link rel="canonical">`, as written."""
    for node in tree.css("link[rel][href]"):
        attrs = node.attributes
        if "canonical" in (attrs.get("rel") or "").lower().split():
            return (attrs.get("href") or "").strip() or None
    return None


def _ld_objects(tree: LexborHTMLParser) -> list[dict[str, Any]]:
    """Every JSON-LD object of the page, flattened out of lists and @graph."""
    out: list[dict[str, Any]] = []
    stack: list[Any] = []
    for script in tree.css('script[type="application/ld+json"]'):
        raw = script.text().strip()
        if not raw:
            continue
        try:
            stack.append(_json.decode(raw))
        except (msgspec.DecodeError, RecursionError):  # broken, or nested past msgspec's limit
            continue
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            out.append(item)
            if isinstance(graph := item.get("@graph"), list):
                stack.extend(reversed(graph))
            if isinstance(main := item.get("mainEntity"), dict):
                stack.append(main)
    return out


def _types(obj: dict[str, Any]) -> set[str]:
    raw = obj.get("@type")
    names = raw if isinstance(raw, list) else [raw]
    return {n.lower() for n in names if isinstance(n, str)}


def _names(value: Any) -> list[str]:
    """The names in an author value: a string, {"name": …}, or a list of those.

    Only those shapes, one level of list: a value nested deeper names no author anyone wrote,
    and following it would let a page recurse as deep as it likes."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str):
            names.append(name)
    return names


def _ld_article(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON-LD object that describes the article; the one with a body wins a tie."""
    articles = [o for o in objects if _types(o) & _ARTICLE_TYPES]
    articles.sort(key=lambda o: (isinstance(o.get("articleBody"), str), "webpage" not in _types(o)))
    return articles[-1] if articles else None


def trim_site_name(title: str, site_name: str | None) -> str:
    """Drop a " | Site" style suffix (or a "Site | " prefix) from a title."""
    separators = list(_TITLE_SEPARATOR.finditer(title))
    if not separators:
        return title
    first, last = separators[0], separators[-1]
    head, tail = title[: last.start()], title[last.end() :]
    if site_name:
        site = site_name.casefold()
        if tail.casefold() == site:
            return head
        if title[: first.start()].casefold() == site:
            return title[first.end() :]
    # Without a known site name: a short, capitalised (or domain-like) last segment after a
    # head of a few words is the site's name, not the end of a sentence.
    if (
        len(tail.split()) <= 4
        and len(head.split()) >= 2
        and (tail[:1].isupper() or tail[:1].isdigit() or "." in tail)
    ):
        return head
    return title


def read_metadata(tree: LexborHTMLParser) -> Metadata:
    """Title, byline, language, description and JSON-LD article of a parsed page."""
    meta = _meta(tree)
    article = _ld_article(_ld_objects(tree)) or {}
    site_name = meta.get("og:site_name") or meta.get("application-name")

    headline = article.get("headline") or article.get("name")
    h1 = tree.css_first("h1")
    title_node = tree.css_first("title")
    candidates = [
        meta.get("og:title"),
        meta.get("twitter:title"),
        squash(headline) if isinstance(headline, str) else None,
        squash(h1.text()) if h1 is not None else None,
        squash(title_node.text()) if title_node is not None else None,
    ]
    title = next((trim_site_name(c, site_name) for c in candidates if c), None)

    authors = _names(article.get("author")) or ([meta["author"]] if "author" in meta else [])
    byline = ", ".join(dict.fromkeys(squash(a) for a in authors if a.strip())) or None

    html = tree.css_first("html")
    lang = (html.attributes.get("lang") if html is not None else None) or meta.get("og:locale")

    body = article.get("articleBody")
    published = article.get("datePublished") or meta.get("article:published_time")
    return Metadata(
        title=clip(title or None, MAX_TITLE),
        byline=clip(byline, MAX_FIELD),
        lang=clip(lang.strip().replace("_", "-"), 35) if lang and lang.strip() else None,
        description=clip(meta.get("og:description") or meta.get("description"), MAX_FIELD),
        site_name=clip(site_name, MAX_FIELD),
        published=clip(published, 64) if isinstance(published, str) else None,
        ld_body=body if isinstance(body, str) and body.strip() else None,
        paywalled=article.get("isAccessibleForFree") in (False, "False", "false"),
        canonical=_canonical(tree) or meta.get("og:url"),
    )
