"""The thread pipeline: validate the input, look in the cache, else fetch, extract, write, store."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from . import keys
from .cache import CACHE_SCHEMA, ThreadCache
from .config import Settings
from .errors import BlockedURL, QuotaExceeded, ValidationFailed
from .extract import extract
from .models import CacheEntry, GenerateRequest, SourceType
from .normalize import digest, normalize_text, normalize_url
from .singleflight import SingleFlight
from .writer import ThreadWriter

MAX_URL_LENGTH = 2048
# An offline thread written because OpenAI failed is kept briefly, so the next request soon
# gets another chance at the better writer instead of the fallback for a whole day.
FALLBACK_TTL_SECONDS = 300
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*\s|\n")


# A request that joined a generation refused on its starter's quota tries on its own this often.
_JOIN_ATTEMPTS = 3


class Account(Protocol):
    """Who pays for a generation: reserved before it starts, refunded if it fails."""

    async def reserve(self) -> None: ...
    async def refund(self) -> None: ...


class PageFetcher(Protocol):
    async def fetch(self, url: str) -> _Page: ...


class _Page(Protocol):
    url: str
    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Source:
    """A validated request: what it is, its normalised value and its cache key."""

    kind: SourceType
    value: str
    key: str


def validate(request: GenerateRequest, settings: Settings) -> Source:
    """Check a decoded body against the rules of POST /api/generate (422 / 403 on failure)."""
    if (request.url is None) == (request.text is None):
        raise ValidationFailed("Send exactly one of `url` or `text`.", code="url_or_text")
    if request.text is not None:
        text = normalize_text(request.text)
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
        return Source("text", text, keys.cache_key("text", digest(text)))
    raw = (request.url or "").strip()
    if len(raw) > MAX_URL_LENGTH:
        raise ValidationFailed(
            f"The URL is longer than {MAX_URL_LENGTH} characters.", code="invalid_url"
        )
    try:
        url = normalize_url(raw)
    except ValueError as exc:
        raise ValidationFailed(f"That is not a valid URL: {exc}.", code="invalid_url") from exc
    if not url.startswith(("http://", "https://")):
        raise BlockedURL("Only http:// and https:// URLs can be fetched.", code="url_scheme")
    if "@" in urlsplit(raw).netloc:
        # Normalising drops credentials; refuse them here, or the fetcher would never see them.
        raise BlockedURL(
            "Links with a user name or password in them are not fetched.", code="url_userinfo"
        )
    return Source("url", url, keys.cache_key("url", digest(url)))


def truncate_text(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, at the last sentence end if one is near."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]].rstrip()
    space = head.rfind(" ")
    return (head[:space] if space >= limit // 2 else head).rstrip()


class ThreadService:
    """Runs the pipeline; concurrent identical misses in this process share one generation."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache: ThreadCache,
        writer: ThreadWriter,
        fetcher: PageFetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.writer = writer
        self.fetcher = fetcher
        self._clock = clock
        self._flight: SingleFlight[CacheEntry] = SingleFlight()

    async def generate(self, source: Source, account: Account | None = None) -> CacheEntry:
        """Write the thread for a cache miss, or join an identical generation already running.

        Only the request that starts a generation pays for it (`account`); joining one is free,
        like a cache hit. Reserving and refunding happen inside the shared task, so a starter
        that disconnects still gets its refund if the generation fails.
        """
        for attempt in range(_JOIN_ATTEMPTS):
            starts = not self._flight.running(source.key)
            try:
                return await self._flight.run(source.key, lambda: self._paid(source, account))
            except QuotaExceeded:
                if starts or account is None or attempt == _JOIN_ATTEMPTS - 1:
                    raise
                # The generation we joined was refused on its starter's quota: try on ours.
        raise AssertionError("unreachable")  # pragma: no cover

    async def _paid(self, source: Source, account: Account | None) -> CacheEntry:
        if account is None:
            return await self._generate(source)
        await account.reserve()
        try:
            return await self._generate(source)
        except Exception:
            await account.refund()
            raise

    async def _generate(self, source: Source) -> CacheEntry:
        title: str | None = None
        text = source.value
        if source.kind == "url":
            page = await self.fetcher.fetch(source.value)
            article = extract(page.body, url=page.url, content_type=page.content_type)
            title = article.title
            text = truncate_text(article.text, self.settings.max_content_length)
        thread, generator = await self.writer.write(text, title)
        entry = CacheEntry(
            schema=CACHE_SCHEMA,
            thread=thread,
            source_type=source.kind,
            title=title,
            generator=generator,
            created_at=self._clock(),
        )
        fell_back = generator == "offline" and self.writer.openai is not None
        await self.cache.set(source.key, entry, FALLBACK_TTL_SECONDS if fell_back else None)
        return entry
