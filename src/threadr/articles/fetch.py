"""Fetching article pages from the public web, connecting only to addresses netguard vetted."""

from __future__ import annotations

import asyncio
import re
import ssl
import zlib
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
import msgspec

from threadr.config import Settings
from threadr.errors import BlockedURL, FetchFailed, FetchTimeout, Unprocessable

from .netguard import Resolver, Target, default_resolver, parse_target, resolve_public
from .transport import PIN, Pin, pinned_transport

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
_KEPT_HEADERS = ("content-type", "content-language", "last-modified", "etag")
_HEADERS = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36 Threadr/0.1",
    "Accept": "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.1",
    "Accept-Language": "en-US,en;q=0.9",
    "Accept-Encoding": "gzip, deflate",  # only what _read_body inflates itself, within limits
}
# Compressed bytes handed to zlib per step: deflate expands at most ~1032:1, so one step makes
# at most ~1 MiB however hostile the stream. httpx's aiter_bytes() inflates each network read
# (up to 64 KiB) in one go, which is ~64 MiB of a gzip bomb before a limit can look at it.
_INFLATE_STEP = 1024
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,60}/[a-z0-9!#$&^_.+-]{1,60}")
# WHATWG MIME sniffing's HTML signatures, each followed by a space or ">".
_HTML_START = re.compile(
    rb"(?:<!doctype html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a|<style|<title"
    rb"|<b|<body|<br|<p|<!--)[ \t\n\f\r>]",
    re.IGNORECASE,
)


class Page(msgspec.Struct):
    """A fetched page after redirects; `content_type` is the raw header (None if the server sent
    none and the body sniffed as HTML), `headers` the few that extraction may need."""

    url: str
    status: int
    content_type: str | None
    headers: dict[str, str]
    body: bytes


class Fetcher:
    """GETs article pages for strangers' URLs; the app's lifespan owns one per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._settings = settings
        self._resolver = resolver or default_resolver
        seconds = settings.fetch_timeout_seconds
        self._client = httpx.AsyncClient(
            transport=transport if transport is not None else pinned_transport(),
            headers=_HEADERS,
            # The shared client stores no cookies, so one user's fetch never carries cookies a
            # site set during another's; each fetch keeps its own jar across its redirects.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            follow_redirects=False,  # every hop is vetted in _fetch
            trust_env=False,  # no proxy or netrc from the environment
            timeout=httpx.Timeout(seconds, connect=seconds / 2),
        )

    async def fetch(self, url: str) -> Page:
        """GET `url`, following up to 5 vetted redirects, within the deadline and byte limit."""
        seconds = self._settings.fetch_timeout_seconds
        try:
            async with asyncio.timeout(seconds):  # one deadline: DNS, connects, redirects, body
                return await self._fetch(url)
        except (TimeoutError, httpx.TimeoutException) as exc:
            detail = f"The site did not send the page within {seconds:g} seconds."
            raise FetchTimeout(detail) from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(_describe(exc)) from exc

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def _fetch(self, url: str) -> Page:
        jar = httpx.Cookies()
        for hop in range(MAX_REDIRECTS + 1):
            target, addresses = await self._vet(url, redirected=hop > 0)
            request = self._client.build_request("GET", target.url)
            jar.set_cookie_header(request)
            token = PIN.set(Pin(target.host, target.port, addresses))
            try:
                response = await self._client.send(request, stream=True)
                try:
                    jar.extract_cookies(response)
                    if response.status_code not in _REDIRECTS:
                        return await self._page(target, response)
                    url = _location(target, response)
                finally:
                    await response.aclose()
            finally:
                PIN.reset(token)
        raise Unprocessable(
            f"The page redirected more than {MAX_REDIRECTS} times.", code="too_many_redirects"
        )

    async def _vet(self, url: str, *, redirected: bool) -> tuple[Target, tuple[str, ...]]:
        """Every hop is vetted like the first: URL rules, then every address its name has."""
        try:
            target = parse_target(url, self._settings)
            return target, await resolve_public(target, self._settings, self._resolver)
        except BlockedURL as exc:
            if not redirected:
                raise
            raise BlockedURL(
                f"The page redirected to a link this service does not fetch. {exc.detail}",
                code=exc.code,
            ) from exc

    async def _page(self, target: Target, response: httpx.Response) -> Page:
        status = response.status_code
        if not 200 <= status < 300:
            reason = httpx.codes.get_reason_phrase(status)  # ours, not the site's text
            raise FetchFailed(
                f"The site answered {status} {reason}".rstrip() + ".",
                extra={"upstream_status": status},
            )
        content_type = response.headers.get("content-type") or None
        media = content_type.split(";", 1)[0].strip().lower() if content_type else None
        if media is not None and media not in _TYPES:
            shown = media if _MEDIA_TYPE.fullmatch(media) else "an unknown type"
            raise Unprocessable(
                f"The link points to {shown}, not a web page; only HTML and "
                "plain text can be read.",
                code="unsupported_content_type",
            )
        body = await _read_body(response, self._settings.fetch_max_bytes)
        # No Content-Type: accepted only if it starts like HTML (as browsers sniff), because
        # many small sites omit the header while binary downloads rarely look like markup.
        if media is None and not _looks_like_html(body):
            raise Unprocessable(
                "The site did not say what kind of file this is, and it does "
                "not look like a web page.",
                code="unsupported_content_type",
            )
        headers = {
            name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers
        }
        return Page(
            url=target.url, status=status, content_type=content_type, headers=headers, body=body
        )


async def _read_body(response: httpx.Response, limit: int) -> bytes:
    """Read and inflate the body, stopping once more than `limit` bytes arrive or come out."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    compressed = encoding in ("gzip", "x-gzip", "deflate")
    if not compressed and encoding not in ("", "identity"):
        raise FetchFailed("The site sent the page in an encoding this service cannot read.")
    inflater: zlib._Decompress | None = None
    head = b""  # the first bytes, until they say which deflate this is
    body, received = bytearray(), 0
    try:
        async for chunk in response.aiter_raw():
            received += len(chunk)  # compressed bytes count too: junk that inflates to nothing
            if received > limit:
                raise _too_large(limit)
            if not compressed:
                body += chunk
                continue
            if inflater is None:
                head += chunk
                if len(head) < 2:
                    continue
                inflater, chunk, head = _inflater(head), head, b""
            _inflate(inflater, chunk, body, limit)
        if compressed:
            inflater = inflater or _inflater(head)
            _inflate(inflater, head, body, limit)
            body += inflater.flush()
            if received and not inflater.eof:  # cut short: what came out is part of a page
                raise FetchFailed("The site sent an incomplete compressed page.")
    except zlib.error as exc:
        raise FetchFailed("The site sent a corrupt compressed page.") from exc
    if len(body) > limit:
        raise _too_large(limit)
    return bytes(body)


def _inflater(head: bytes) -> zlib._Decompress:
    """A decompressor for a gzip, zlib or raw deflate stream, told apart by its first bytes.

    "Content-Encoding: deflate" means zlib-wrapped, but servers have long sent raw deflate
    under that name, and browsers read both; a zlib header is two bytes whose value is a
    multiple of 31 with method 8, which raw deflate's first block hardly ever is.
    """
    zlib_header = len(head) >= 2 and head[0] & 0x0F == 8 and int.from_bytes(head[:2]) % 31 == 0
    if head[:2] == b"\x1f\x8b" or zlib_header:
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # reads a gzip or zlib header
    return zlib.decompressobj(-zlib.MAX_WBITS)


def _inflate(inflater: zlib._Decompress, data: bytes, body: bytearray, limit: int) -> None:
    for start in range(0, len(data), _INFLATE_STEP):
        body += inflater.decompress(data[start : start + _INFLATE_STEP])
        if len(body) > limit:
            raise _too_large(limit)


def _location(target: Target, response: httpx.Response) -> str:
    """The redirect's target, resolved against the current URL."""
    location = response.headers.get("location")
    if not location:
        raise FetchFailed(
            f"The site answered {response.status_code} without saying where the page moved."
        )
    try:
        return str(httpx.URL(target.url).join(location))
    except httpx.InvalidURL as exc:
        raise FetchFailed("The site redirected to a link that is not valid.") from exc


def _too_large(limit: int) -> Unprocessable:
    return Unprocessable(f"The page is larger than {limit:,} bytes.", code="page_too_large")


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\n\f\r")
    return _HTML_START.match(head) is not None


def _describe(exc: httpx.HTTPError) -> str:
    """One sentence for a transport failure, from the root cause when there is one."""
    cause: BaseException | None = exc
    for _ in range(8):  # a chain is short; the bound only guards against a cycle
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "The site's TLS certificate could not be verified."
        if isinstance(cause, ssl.SSLError):
            return "The secure (TLS) connection to the site failed."
        cause = cause and (cause.__cause__ or cause.__context__)
    if isinstance(exc, httpx.ConnectError):
        return "The site could not be reached."
    if isinstance(exc, httpx.RemoteProtocolError):  # also httpx's verdict on a bad Location
        return "The site sent an incomplete or malformed answer."
    return "The connection to the site failed before the page arrived."
