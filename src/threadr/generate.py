"""The thread pipeline for a cache miss: fetch and extract (for a URL), look for the article
under its other URLs, write, store. Concurrent identical misses share one generation — in this
process (singleflight.py) and across instances (storage/leases.py) — paid for by the request
that starts it; a request answered by another's generation, or by the entry of another URL of
the same article, pays nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .analytics.counts import Tally
from .articles.extraction import Article
from .articles.fetch import Page
from .cache import CacheEntry, ThreadCache, article_key, decode_entry, key_for, url_key
from .config import Settings
from .errors import QuotaExceeded, ThreadrError, Unprocessable
from .singleflight import Relay, SingleFlight
from .source import Source, SourceType, canonical_alias, normalize_url
from .storage.leases import Found, Lease, Leases
from .writing.fit import truncate
from .writing.options import DEFAULT_OPTIONS, Options
from .writing.thread import Tweet, TweetSink
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


@dataclass(frozen=True, slots=True)
class Started:
    """A generation's writer has begun: paid for, the article read (POST /api/generate/stream
    names its title in its `meta` event)."""

    title: str | None


StartSink = Callable[[Started], Awaitable[None] | None]


class Pipeline:
    """Writes the thread of a cache miss; concurrent identical misses share one generation, in
    this process and across instances."""

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
        leases: Leases | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self.analytics = analytics if analytics is not None else Tally()
        self.cache = cache
        self.writer = writer
        self.fetcher = fetcher
        self.reader = reader
        self.leases = leases if leases is not None else Leases(cache.gateway)
        # How long a miss waits for another instance's generation: as long as that one may
        # take (fetch, extraction, the model's budget, its writes); then it works alone.
        self.patience = (
            settings.fetch_timeout_seconds
            + settings.extract_timeout_seconds
            + settings.openai_timeout_seconds
            + settings.redis_timeout_seconds
        )
        self._clock = clock
        self._flight: SingleFlight[CacheEntry] = SingleFlight()
        self._relay: Relay[Tweet | Started] = Relay()

    async def generate(
        self,
        source: Source,
        account: Account | None = None,
        options: Options = DEFAULT_OPTIONS,
        *,
        on_tweet: TweetSink | None = None,
        on_start: StartSink | None = None,
    ) -> CacheEntry:
        """Write the thread for a cache miss, or join an identical generation already running.

        Only the request that starts a generation pays for it (`account`); joining one is free,
        like a cache hit. Reserving and refunding happen inside the shared task, so a starter
        that disconnects still gets its refund if the generation fails. `on_tweet` is told each
        tweet as soon as the writer has it final, in order — a request that joins a generation
        of this process first hears the tweets told before it came; one that waits for another
        instance's hears none, and has the entry. The entry returned supersedes what was told
        (writing/thread.py: TweetSink). `on_start` is told, the same way, when the writer
        begins (paid for, the article read), before any tweet.
        """
        sink = _sink(on_tweet, on_start)
        key = key_for(source, options)
        for attempt in range(_JOIN_ATTEMPTS):
            starts = not self._flight.running(key)
            try:
                async with self._relay.listen(key, sink):
                    return await self._flight.run(
                        key, lambda: self._shared(source, key, account, options)
                    )
            except QuotaExceeded:
                if starts or account is None or attempt == _JOIN_ATTEMPTS - 1:
                    raise
                # The generation we joined was refused on its starter's quota: try on ours.
        raise AssertionError("unreachable")  # pragma: no cover

    async def _shared(
        self, source: Source, key: str, account: Account | None, options: Options
    ) -> CacheEntry:
        """This process's generation of `key`, under its lease; or the entry another instance
        wrote while we waited for its lease (free: we made nothing)."""
        deadline = asyncio.get_running_loop().time() + self.patience
        claim = await self.leases.claim(key, self.patience)
        if isinstance(claim, Found):
            entry = decode_entry(claim.entry)
            if entry is not None:
                return entry
            claim = Lease(None, key)  # an entry of another layout (a deploy under way): ours
        async with claim:
            return await self._paid(source, key, account, options, deadline)

    async def _paid(
        self,
        source: Source,
        key: str,
        account: Account | None,
        options: Options,
        deadline: float,
    ) -> CacheEntry:
        if account is not None:
            await account.reserve()
        try:
            entry, made = await self._generate(source, key, options, deadline)
        except Exception as exc:
            if account is not None and not _spent(exc):
                await account.refund()
            raise
        if account is not None and not made:
            await account.refund()  # found under another URL of the article: free, like a hit
        return entry

    async def _generate(
        self, source: Source, key: str, options: Options, deadline: float
    ) -> tuple[CacheEntry, bool]:
        """The entry of `key`, and whether it was written now (False: it was the entry of
        another URL of the same article, now stored under this one too)."""
        if source.kind == "text":
            return await self._write(key, source.value, None, "text", options), True
        page, article = await self._read(source.value)
        text = truncate(article.text, self.settings.max_content_length)
        # The fetch is cheap, the model is not: look under the article's other keys first.
        look, store, by_text = _article_keys(key, page.url, article.canonical_url, text, options)
        found = await self.cache.find(look)
        if found is not None:
            await self.cache.alias(key, *found)
            return found[0], False
        # Another URL of the same text may be being written elsewhere: wait for it, or write.
        claim = await self.leases.claim(by_text, deadline - asyncio.get_running_loop().time())
        if isinstance(claim, Found):
            entry = decode_entry(claim.entry)
            if entry is not None:
                await self.cache.alias(key, entry, claim.ttl_ms)
                return entry, False
            claim = Lease(None, by_text)
        async with claim:
            return await self._write(key, text, article.title, "url", options, store), True

    async def _write(
        self,
        key: str,
        text: str,
        title: str | None,
        kind: SourceType,
        options: Options,
        copies: tuple[str, ...] = (),
    ) -> CacheEntry:
        tell = self._relay.teller(key)
        await tell(Started(title))
        written = await self.writer.write(text, title, options, on_tweet=tell)
        generator = written.generator
        entry = CacheEntry.new(
            written.tweets, kind, title, generator, self._clock(), (key, *copies), written.warnings
        )
        fell_back = generator == "offline" and self.writer.openai is not None
        self.analytics.generation(kind, generator, fell_back)
        ttl = FALLBACK_TTL_SECONDS if fell_back else None
        await self.cache.set(key, entry, ttl, copies=copies)
        return entry

    async def article(self, source: Source) -> tuple[str, str | None]:
        """The text a thread of `source` is written from, and its title: a text as it is; a
        page fetched and extracted (again), cut as the writer gets it. POST /api/rewrite
        grounds a tweet in it."""
        if source.kind == "text":
            return source.value, None
        _, article = await self._read(source.value)
        return truncate(article.text, self.settings.max_content_length), article.title

    async def _read(self, url: str) -> tuple[Page, Article]:
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
            article = await self.reader.extract(
                page.body, url=page.url, content_type=page.content_type
            )
        except ThreadrError as exc:
            if observer is not None:
                observer.extraction_failed(exc.code)
            raise
        return page, article


def _sink(
    on_tweet: TweetSink | None, on_start: StartSink | None
) -> Callable[[Tweet | Started], Awaitable[None] | None] | None:
    """One listener for the relay, handing each item to the sink of its kind."""
    if on_start is None and on_tweet is None:
        return None

    def sink(item: Tweet | Started) -> Awaitable[None] | None:
        if isinstance(item, Started):
            return on_start(item) if on_start is not None else None
        return on_tweet(item) if on_tweet is not None else None

    return sink


def _article_keys(
    key: str, page_url: str, canonical: str | None, text: str, options: Options
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """Where a fetched article's thread may already be — under the URL the fetch ended at, the
    URL the page names as its own (when it may: source.canonical_alias), its text's key — and
    where a thread made now is copied: only keys of what was fetched, the final URL's and the
    text's. A named URL is read, never written: a page may name any URL of its site (on a site
    where anyone can publish, another author's), and its thread must not become that URL's.
    Third: the text's key, whose lease stands for the article while it is written."""
    by_text = article_key(text, options)
    try:
        final = url_key(normalize_url(page_url), options)
    except ValueError:
        final = key
    named = canonical_alias(page_url, canonical) if canonical else None
    look = (final, url_key(named, options) if named is not None else key, by_text)
    return _other(key, look), _other(key, (final, by_text)), by_text


def _other(key: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for k in keys if k != key))
