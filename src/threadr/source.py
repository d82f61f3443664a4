"""The input rulebook: what POST /api/generate accepts as a URL or a text, their canonical forms
(so that equal inputs share one cache entry) and digests; the URL rules netguard applies to
every fetch hop are these same ones."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

import idna

from .config import Settings
from .errors import BlockedURL, ThreadrError, ValidationFailed

SourceType = Literal["url", "text"]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that identify a click, not a document: dropping them lets every share of an
# article hit the same cache entry.
_TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ref_src",
        "ref_url",
        "li_fat_id",
        "s_cid",
        "spm",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "_hsenc",
        "_hsmi",
        "trk",
        "si",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "hsa_")
_BLANK_LINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"\w")

# A text is measured before it is normalised, against this many times MAX_CONTENT_LENGTH, so
# that a body of padding costs nothing before the rate limiter. Normalising only removes
# whitespace (CRs, trailing spaces, runs of blank lines), so only padding makes a text longer
# as sent than once normalised: 4× still lets through lines padded with spaces to a fixed
# width with CRLF endings, and refuses a 64 KiB body that is one run of spaces (the default
# limit allows 40,000 characters as sent).
RAW_TEXT_FACTOR = 4

# NFC sorts each run of combining marks by insertion (CPython's unicodedata), so one long run
# of marks of alternating classes costs time quadratic in its length: seconds for a 64 KiB
# body. A text that needs normalising may hold no run longer than UAX #15's Stream-Safe Text
# Format allows (30 non-starters); no language needs more, only "Zalgo" text.
# The one statement of this rule: the writer (writing/twittertext.stream_safe) cuts model
# output and article text to it, as validation refuses pasted text over it.
MAX_MARK_RUN = 30
_LONG_MARK_RUN = re.compile(rb"[^\x00]{%d,}" % (MAX_MARK_RUN + 1))  # over combining classes
# The only starters whose canonical decomposition begins with marks (Tibetan vowel signs): NFC
# sorts what they decompose into along with the run, so they count as marks too
# (tests/test_source.py checks this list against unicodedata).
DECOMPOSING_STARTERS = "\u0f73\u0f75\u0f81"
_AS_MARK = str.maketrans(dict.fromkeys(DECOMPOSING_STARTERS, "\u0f71"))  # same length: spans hold


@dataclass(frozen=True, slots=True)
class Source:
    """A validated input: what it is, its normalised value and that value's digest."""

    kind: SourceType
    value: str
    digest: str


def check_length(url: str, error: type[ThreadrError], code: str) -> None:
    """A link no browser would send: refused before anything reads it (422 for a request's
    own URL, 403 for a redirect's)."""
    if len(url) > MAX_URL_LENGTH:
        raise error(f"That link is longer than {MAX_URL_LENGTH:,} characters.", code=code)


def check_scheme(scheme: str) -> None:
    """Only the web's own schemes are fetched (never file:, ftp:, gopher: …)."""
    if scheme.lower() not in DEFAULT_PORTS:
        raise BlockedURL("Only http:// and https:// links can be fetched.", code="url_scheme")


def check_userinfo(netloc: str) -> None:
    """Credentials in a link are refused: they would be sent to a stranger's site, and
    normalising (which drops them) would otherwise hide them from every later check."""
    if "@" in netloc:
        raise BlockedURL(
            "Links with a user name or password in them are not fetched.", code="url_userinfo"
        )


def validate(url: str | None, text: str | None, settings: Settings) -> Source:
    """Check a decoded body against the rules of POST /api/generate (422 / 403 on failure)."""
    if (url is None) == (text is None):
        raise ValidationFailed("Send exactly one of `url` or `text`.", code="url_or_text")
    if text is not None:
        limit = settings.max_content_length
        if len(text) > RAW_TEXT_FACTOR * limit:
            raise _too_long(text, limit)  # before normalising reads a character of it
        text = normalize_text(text)
        if not _WORD.search(text):  # empty, or only spaces, punctuation, controls or emoji
            raise ValidationFailed(
                "The text has no words in it; paste the article you want turned into a thread.",
                code="empty_text",
            )
        if len(text) > limit:
            raise _too_long(text, limit)
        return Source("text", text, digest(text))
    raw = (url or "").strip()
    check_length(raw, ValidationFailed, "invalid_url")
    try:
        parts = urlsplit(raw)  # once: normalising and the checks below read the same parts
        normal = _normal_url(parts)
    except ValueError as exc:
        raise ValidationFailed(f"That is not a valid URL: {exc}.", code="invalid_url") from exc
    check_scheme(parts.scheme)
    check_userinfo(parts.netloc)
    return Source("url", normal, digest(normal))


def normalize_url(url: str) -> str:
    """The URL that will be fetched, in one spelling: scheme and host lower-case, the host as a
    browser maps it (UTS 46, IDNA 2008), no default port, fragment or tracking parameters.
    Raises ValueError for a URL without a scheme or a valid host."""
    return _normal_url(urlsplit(url.strip()))


def canonical_alias(page_url: str, canonical: str) -> str | None:
    """The normal form of the URL a page at `page_url` names as its own (rel=canonical,
    og:url), when the page may be answered with that URL's thread; else None. (A named URL is
    only ever read: generate.py never writes a thread under it.)

    A page may name only its own site: the same host but for one variant label in front
    (_VARIANT_LABELS: m.example.com may name www.example.com or example.com, and the reverse),
    the same port, no user info. And a page read over plain http, which anyone on the way may
    have changed, cannot speak for an https URL (an https page may name its http twin)."""
    if len(canonical) > MAX_URL_LENGTH:
        return None
    try:
        page = urlsplit(normalize_url(page_url))
        claimed = urlsplit(canonical.strip())
        normal = _normal_url(claimed)
    except ValueError:
        return None
    named = urlsplit(normal)
    if (
        named.scheme not in DEFAULT_PORTS
        or "@" in claimed.netloc
        or (page.scheme == "http" and named.scheme == "https")
        or _site(named.netloc) != _site(page.netloc)
    ):
        return None
    return normal


# Leading host labels that name a variant of one site's pages: mobile, AMP, www.
_VARIANT_LABELS = ("www.", "m.", "mobile.", "amp.")


def _site(netloc: str) -> str:
    """A normal host[:port] without its variant label (kept when no dot would remain: m.com
    is a site of its own, not a variant of com)."""
    for label in _VARIANT_LABELS:
        if netloc.startswith(label) and "." in netloc[len(label) :]:
            return netloc[len(label) :]
    return netloc


def _normal_url(parts: SplitResult) -> str:
    scheme = parts.scheme.lower()
    host = _normal_host(parts.netloc)
    if not scheme or not host:
        raise ValueError("a URL needs a scheme and a host, like https://example.com/post")
    port = parts.port  # raises ValueError for a port that is not a number
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", _without_tracking(parts.query), ""))


def _normal_host(netloc: str) -> str:
    """The host of `netloc` as a browser would look it up ("" when there is none)."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):  # an IPv6 literal, brackets kept (urlsplit has checked them)
        return host[: host.find("]") + 1].lower()
    host = host.partition(":")[0].rstrip(".")  # "example.com." is the same host
    if host.isascii():
        # UTS 46 leaves ASCII as it is apart from case (browsers skip its STD3 rules, so
        # "my_site.example" stays valid); netguard judges the syntax before any fetch.
        return host.lower()
    # Mapped as a browser's URL parser maps it: UTS 46, non-transitional, then IDNA 2008 —
    # "faß.de" is xn--fa-hia.de, not IDNA 2003's fass.de (another site). Python's lower() does
    # not run first (it makes Σ the final ς, UTS 46 makes it σ: another name again), and no
    # character is stripped here: UTS 46's own table drops the invisibles a browser drops
    # (soft hyphen, zero-width space, word joiner, BOM, variation selectors), so we fetch the
    # host the browser would; what it disallows (bidi controls and marks, joiners outside the
    # scripts that need them, controls, spaces) makes the link invalid instead of being
    # guessed away.
    try:
        return idna.encode(host, uts46=True).decode("ascii").rstrip(".")
    except UnicodeError as exc:  # idna.IDNAError included
        raise ValueError("its host name is not a valid internationalised domain name") from exc


def _without_tracking(query: str) -> str:
    """The query exactly as sent, minus tracking parameters: every other parameter keeps its
    bytes and its place, since a site may read both (`?q=caf%E9` is Latin-1 "café" to some,
    not the page of `?q=caf%E8`, and neither is UTF-8)."""
    if not query:
        return query
    pieces = query.split("&")
    kept = [piece for piece in pieces if not _is_tracking(piece)]
    return query if len(kept) == len(pieces) else "&".join(kept)


def _is_tracking(piece: str) -> bool:
    name = unquote_plus(piece.partition("=")[0]).lower()  # utm%5Fsource is utm_source too
    return name in _TRACKING or name.startswith(_TRACKING_PREFIXES)


def normalize_text(text: str) -> str:
    """NFC, Unix newlines, no trailing spaces, at most one blank line in a row, trimmed.

    Linear in the text's length whatever it holds; raises ValidationFailed for a text that
    needs NFC and holds a run of more than 30 combining marks."""
    # Each step is skipped when a C-speed scan shows nothing to do: this runs on every request
    # with a text, cache hits included. Text already in NFC (nearly all) is not normalised, so
    # it needs no bound on its runs of marks and skips the check (~50 ns a character): the
    # bound is about CPU, not spelling. (is_normalized's own full pass, on a "maybe", is
    # linear: it only runs when every run of marks is already in order.)
    if not unicodedata.is_normalized("NFC", text):
        _check_mark_runs(text)
        text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if " \n" in text or "\t\n" in text:
        # Line by line, not a regex: `[ \t]+\n` tries every start inside a run of spaces
        # that ends in a letter, which is quadratic (seconds for 64 KiB of spaces).
        text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def long_mark_runs(text: str) -> list[tuple[int, int]]:
    """The spans of `text` that are runs of more than MAX_MARK_RUN combining marks."""
    if any(starter in text for starter in DECOMPOSING_STARTERS):
        text = text.translate(_AS_MARK)
    return [run.span() for run in _LONG_MARK_RUN.finditer(bytes(map(unicodedata.combining, text)))]


def _check_mark_runs(text: str) -> None:
    """Refuse a run of marks longer than NFC can sort in linear time (MAX_MARK_RUN)."""
    if long_mark_runs(text):
        raise ValidationFailed(
            f"The text has more than {MAX_MARK_RUN} accents or other combining marks on one "
            "letter; no language needs that many.",
            code="too_many_marks",
        )


def _too_long(text: str, limit: int) -> ValidationFailed:
    return ValidationFailed(
        f"The text is {len(text):,} characters long; the limit is {limit:,} characters.",
        code="text_too_long",
    )


def digest(value: str) -> str:
    """sha256 hex of an already-normalised value."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
