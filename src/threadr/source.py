"""The input rulebook: what POST /api/generate accepts as a URL or a text, their canonical forms
(so that equal inputs share one cache entry) and digests; the URL rules netguard applies to
every fetch hop are these same ones."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

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
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


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
        text = normalize_text(text)
        if not text:
            raise ValidationFailed(
                "The text is empty; paste the article you want turned into a thread.",
                code="empty_text",
            )
        limit = settings.max_content_length
        if len(text) > limit:
            raise ValidationFailed(
                f"The text is {len(text):,} characters long; the limit is {limit:,} characters.",
                code="text_too_long",
            )
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
    """Lower-case scheme and host, drop the default port, fragment and tracking parameters,
    sort the query. Raises ValueError for a URL without a scheme or host."""
    return _normal_url(urlsplit(url.strip()))


def _normal_url(parts: SplitResult) -> str:
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        raise ValueError("a URL needs a scheme and a host, like https://example.com/post")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port  # raises ValueError for a port that is not a number
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING and not k.lower().startswith(_TRACKING_PREFIXES)
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def normalize_text(text: str) -> str:
    """NFC, Unix newlines, no trailing spaces, at most one blank line in a row, trimmed."""
    # Each step is skipped when a C-speed scan shows nothing to do: this runs on every request
    # with a text, cache hits included.
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_SPACE.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def digest(value: str) -> str:
    """sha256 hex of an already-normalised value."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
