"""The thread pipeline for a cache miss: fetch and extract (for a URL), write, store; concurrent
identical misses in this process share one generation, paid for by the request that starts it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from .analytics.counts import Tally
from .articles.extraction import Article
from .articles.fetch import Page
from .cache import CacheEntry, ThreadCache, key_for
from .config import Settings
from .errors import QuotaExceeded, ThreadrError, Unprocessable
from .singleflight import SingleFlight
from .source import Source
from .writing.fit import truncate
from .writing.writer import ThreadWriter

# An offline thread written because OpenAI failed is kept briefly, so the next request soon
# gets another chance at the better writer instead of the fallback for a whole day.
FALLBACK_TTL_SECONDS = 300

# A request that joined a generation refused on its starter's quota tries on its own this often.
_JOIN_ATTEMPTS = 3
# Pages that held a worker for its whole time limit, or were built to: the generation is spent
# (not refunded), or an attacker could keep every worker busy on free retries.
_SPENT_CODES = frozenset({"page_too_slow", "page_too_complex"})


def _spent(exc: Exception) -> bool:
    return isinstance(exc, Unprocessable) and exc.code in _SPENT_CODES


class Account(Protocol):
    """Who pays for a generation: reserved before it starts, refunded if it fails."""

    async def reserve(self) -> None: ...
    async def refund(self) -> None: ...


class Observer(Protocol):
    """What a cache miss tells the app's metrics (observability/metrics.py, wired by
    services.py): each fetch's seconds and failure code, each extraction's failure code."""

    def fetched(self, seconds: float, failure: str | None) -> None: ...
    def extraction_failed(self, reason: str) -> None: ...


class PageFetcher(Protocol):
    async def fetch(self, url: str) -> Page: ...


class ArticleReader(Protocol):
    """Extraction, off the event loop (articles/extraction/pool.py)."""

    async def extract(
        self, body: bytes, *, url: str | None = None, content_type: str | None = None
    ) -> Article: ...


class Pipeline:
    """Writes the thread of a cache miss; concurrent identical misses in this process share one
    generation."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache: ThreadCache,
        writer: ThreadWriter,
        fetcher: PageFetcher,
        reader: ArticleReader,
        clock: Callable[[], float] = time.time,
        analytics: Tally | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self.analytics = analytics if analytics is not None else Tally()
        self.cache = cache
        self.writer = writer
        self.fetcher = fetcher
        self.reader = reader
        self._clock = clock
        self._flight: SingleFlight[CacheEntry] = SingleFlight()

    async def generate(self, source: Source, account: Account | None = None) -> CacheEntry:
        """Write the thread for a cache miss, or join an identical generation already running.

        Only the request that starts a generation pays for it (`account`); joining one is free,
        like a cache hit. Reserving and refunding happen inside the shared task, so a starter
        that disconnects still gets its refund if the generation fails.
        """
        key = key_for(source)
        for attempt in range(_JOIN_ATTEMPTS):
            starts = not self._flight.running(key)
            try:
                return await self._flight.run(key, lambda: self._paid(source, key, account))
            except QuotaExceeded:
                if starts or account is None or attempt == _JOIN_ATTEMPTS - 1:
                    raise
                # The generation we joined was refused on its starter's quota: try on ours.
        raise AssertionError("unreachable")  # pragma: no cover

    async def _paid(self, source: Source, key: str, account: Account | None) -> CacheEntry:
        if account is None:
            return await self._generate(source, key)
        await account.reserve()
        try:
            return await self._generate(source, key)
        except Exception as exc:
            if not _spent(exc):
                await account.refund()
            raise

    async def _generate(self, source: Source, key: str) -> CacheEntry:
        title: str | None = None
        text = source.value
        if source.kind == "url":
            article = await self._read(source.value)
            title = article.title
            text = truncate(article.text, self.settings.max_content_length)
        thread, generator = await self.writer.write(text, title)
        entry = CacheEntry.new(thread, source.kind, title, generator, self._clock())
        fell_back = generator == "offline" and self.writer.openai is not None
        self.analytics.generation(source.kind, generator, fell_back)
        await self.cache.set(key, entry, FALLBACK_TTL_SECONDS if fell_back else None)
        return entry

    async def _read(self, url: str) -> Article:
        """Fetch the page at `url` and extract its article, telling the observer how it went."""
        observer = self.observer
        started = time.perf_counter()
        try:
            page = await self.fetcher.fetch(url)
        except ThreadrError as exc:
            if observer is not None:
                observer.fetched(time.perf_counter() - started, exc.code)
            raise
        if observer is not None:
            observer.fetched(time.perf_counter() - started, None)
        try:
            return await self.reader.extract(
                page.body, url=page.url, content_type=page.content_type
            )
        except ThreadrError as exc:
            if observer is not None:
                observer.extraction_failed(exc.code)
            raise
