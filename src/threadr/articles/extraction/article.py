"""The entry point of extraction: decode, read metadata, pick the article text, judge it.

Pure and deterministic: no network, no global state."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import msgspec
from selectolax.lexbor import LexborHTMLParser

from threadr.errors import Unprocessable
from threadr.source import MAX_URL_LENGTH

from .boilerplate import PASSES
from .charset import decode
from .content import extract_body
from .metadata import Metadata, read_metadata
from .text import render, tidy

# Below this many words a page has no article we can use (a paywall teaser, a JS shell, an index).
MIN_WORDS = 50
# A first pass shorter than this is retried with the riskier heuristics turned off.
RETRY_CHARS = 300

_WORD = re.compile(r"\w+")
_MARKUP = re.compile(r"<(?:!doctype|html|head|body|meta|title|div|p|br|script|a)\b", re.I)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})
_PLAIN_BREAKS = re.compile(r"\n[^\S\n]*\n\s*")
# WHATWG MIME sniffing's "binary data bytes": a page without a type that holds them is a file.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_UNICODE_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class Article(msgspec.Struct):
    """What a page says: the body as plain text with paragraphs separated by a blank line."""

    title: str | None
    text: str
    byline: str | None = None
    lang: str | None = None  # BCP 47 tag as the page declares it, e.g. "en-US"
    description: str | None = None
    site_name: str | None = None
    published: str | None = None  # as the page gives it, usually ISO 8601
    word_count: int = 0
    # The URL the page names as its own (rel=canonical, else og:url), made absolute against the
    # page's URL; unchecked: source.canonical_alias says whether it may speak for the page.
    canonical_url: str | None = None


def extract(body: bytes, *, url: str | None = None, content_type: str | None = None) -> Article:
    """Extract the article of a page; raises Unprocessable when there is none worth using.

    `content_type` is the response's Content-Type header (its charset is honoured first);
    `url`, the page's own (after redirects), resolves a relative canonical URL.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in _HTML_TYPES and media != "text/plain":
        raise Unprocessable(
            f"The page is {media}, not an HTML article or plain text.", code="unsupported_type"
        )
    if not media and not body.startswith(_UNICODE_BOMS) and _BINARY.search(body[:1024]):
        raise Unprocessable(
            "The page is binary data, not an HTML article or plain text.", code="unsupported_type"
        )
    html = decode(body, content_type)
    if media == "text/plain" or (not media and not _MARKUP.search(html, 0, 4096)):
        return _plain(html)
    tree = LexborHTMLParser(html)
    meta = read_metadata(tree)
    text = extract_body(tree, PASSES[0])
    for opts in PASSES[1:]:
        if len(text) >= RETRY_CHARS:
            break
        retry = extract_body(LexborHTMLParser(html), opts)
        if len(retry) > len(text):
            text = retry
    text = _prefer_structured(text, meta)
    words = len(_WORD.findall(text))
    if words < MIN_WORDS:
        why = (
            "it is behind a paywall"
            if meta.paywalled
            else "it may be behind a paywall, or built by JavaScript"
        )
        raise Unprocessable(
            f"No article text was found on the page (only {words} words; {why}).",
            code="no_article",
        )
    return Article(
        title=meta.title,
        text=text,
        byline=meta.byline,
        lang=meta.lang,
        description=meta.description,
        site_name=meta.site_name,
        published=meta.published,
        word_count=words,
        canonical_url=_absolute(meta.canonical, url),
    )


def _absolute(link: str | None, base: str | None) -> str | None:
    """`link` resolved against `base`; None when there is none, or it is no link a browser
    would follow (too long, or not parsable)."""
    if not link:
        return None
    try:
        absolute = urljoin(base, link) if base else link
    except ValueError:
        return None
    return absolute if len(absolute) <= MAX_URL_LENGTH else None


def _prefer_structured(text: str, meta: Metadata) -> str:
    """Use the JSON-LD articleBody when it holds clearly more of the article than the page text."""
    if not meta.ld_body:
        return text
    ld = meta.ld_body
    if "<" in ld and ">" in ld:  # some sites put HTML in the JSON string
        fragment = LexborHTMLParser(ld, is_fragment=True)
        ld = render([fragment.root]) if fragment.root is not None else ld
    else:  # plain text: every line break ends a paragraph
        ld = tidy(ld.replace("\r", "\n"), "\n")
    ld_words = len(_WORD.findall(ld))
    if ld_words >= MIN_WORDS and ld_words > 1.5 * len(_WORD.findall(text)):
        return ld
    return text


def _plain(text: str) -> Article:
    """A text/plain body: paragraphs are what blank lines separate."""
    text = tidy(_PLAIN_BREAKS.sub("\n\n", text.replace("\r\n", "\n").replace("\r", "\n")))
    words = len(_WORD.findall(text))
    if words < MIN_WORDS:
        raise Unprocessable(
            f"The text is too short to make a thread of ({words} words).", code="no_article"
        )
    return Article(title=None, text=text, word_count=words)
