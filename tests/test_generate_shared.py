"""One generation per article across instances and URLs: pipelines ("instances") on one fakeredis,
pages from a stand-in site, the real extraction in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import fakeredis
import pytest

from tests.factories import CountingRedis, make_gateway, make_settings, until
from tests.test_generate import GatedWriter, Ledger
from threadr.articles.extraction import Article, extract
from threadr.articles.fetch import Page
from threadr.cache import ThreadCache, article_key, key_for, url_key
from threadr.errors import FetchFailed
from threadr.generate import Pipeline
from threadr.source import Source, validate
from threadr.storage.leases import Leases
from threadr.storage.signals import Signals
from threadr.writing.options import DEFAULT_OPTIONS, Options
from threadr.writing.writer import ThreadWriter

SETTINGS = make_settings()
TEXT = "Two instances, one model call: the second waits for the first one's entry. " * 3
BODY = " ".join(f"Sentence {n} of the story says something new about caching." for n in range(20))


def page(canonical: str | None, body: str = BODY) -> bytes:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (
        f"<!doctype html><html><head><title>The story</title>{link}</head>"
        f"<body><article><h1>The story</h1><p>{body}</p></article></body></html>"
    ).encode()


# The same story as laid out on another page (an AMP version): not the same text.
AMP_BODY = BODY.replace("caching", "cache entries")
OTHER_BODY = " ".join(
    f"Line {n} of another story, about something else entirely." for n in range(20)
)


class Site:
    """Pages by URL: (the URL after redirects, the body); counts fetches."""

    def __init__(self, pages: dict[str, tuple[str, bytes]]) -> None:
        self.pages = pages
        self.fetches: list[str] = []

    async def fetch(self, url: str) -> Page:
        self.fetches.append(url)
        final, body = self.pages[url]
        return Page(url=final, status=200, content_type="text/html", headers={}, body=body)


class Reader:
    async def extract(
        self, body: bytes, *, url: str | None = None, content_type: str | None = None
    ) -> Article:
        return extract(body, url=url, content_type=content_type)


class CountingWriter(ThreadWriter):
    def __init__(self) -> None:
        super().__init__(None, max_tweets=25)
        self.calls = 0

    async def write(  # type: ignore[no-untyped-def]
        self, text: str, title: str | None, options: Options = DEFAULT_OPTIONS, **kw: Any
    ):
        self.calls += 1
        return await super().write(text, title, options, **kw)


class Instances:
    """Pipelines on one fakeredis server, each with its own client, signals and leases."""

    def __init__(self) -> None:
        self.server = fakeredis.FakeServer()
        self.made: list[tuple[CountingRedis, Signals]] = []

    def __call__(self, writer: ThreadWriter, site: Any = None, *, redis: bool = True) -> Pipeline:
        client = CountingRedis(server=self.server)
        signals = Signals(client, timeout=2.0)
        self.made.append((client, signals))
        gateway = make_gateway(client if redis else None)
        cache = ThreadCache(gateway, ttl_seconds=3600, memory_entries=10)
        return Pipeline(
            SETTINGS,
            cache=cache,
            writer=writer,
            fetcher=site,
            reader=Reader(),
            leases=Leases(gateway, signals, check_seconds=30),  # only messages wake a waiter
        )

    async def aclose(self) -> None:
        for client, signals in self.made:
            await signals.aclose()
            await client.aclose()


@pytest.fixture
async def instances() -> AsyncIterator[Instances]:
    made = Instances()
    yield made
    await made.aclose()


def url(value: str) -> Source:
    return validate(value, None, SETTINGS)


def looks(pipeline: Pipeline) -> Callable[[], int]:
    """How many times the pipeline's instance has looked at a lease (one script call each)."""
    redis: Any = pipeline.cache.gateway.redis
    return lambda: int(redis.commands.count("EVALSHA"))


async def test_one_article_at_two_urls_is_written_once(instances: Instances) -> None:
    site = Site(
        {
            "https://news.example/a": ("https://news.example/a", page("/a")),
            "https://news.example/amp/a": ("https://news.example/amp/a", page("/a", AMP_BODY)),
        }
    )
    writer, log = CountingWriter(), list[str]()
    svc = instances(writer, site)
    first = await svc.generate(url("https://news.example/a"), Ledger("ann", log))
    second = await svc.generate(url("https://news.example/amp/a"), Ledger("bob", log))
    assert second.thread == first.thread and writer.calls == 1  # found by the canonical URL
    assert len(site.fetches) == 2  # the fetch is cheap, the model is not
    assert log == ["reserve ann", "reserve bob", "refund bob"]  # found, not made: free
    # The AMP URL is now an alias: a plain hit next time, expiring with the entry it copies.
    redis: Any = svc.cache.gateway.redis
    amp = key_for(url("https://news.example/amp/a"))
    assert await redis.get(amp) is not None
    home = key_for(url("https://news.example/a"))
    assert 0 < await redis.pttl(amp) <= await redis.pttl(home) + 100  # read a moment apart


async def test_a_thread_is_stored_under_what_was_fetched_never_under_a_named_url(
    instances: Instances,
) -> None:
    named = page("https://www.news.example/a")
    site = Site(
        {
            "https://m.news.example/a?ref=x": ("https://m.news.example/a", named),
            "https://www.news.example/a": ("https://www.news.example/a", page(None)),
        }
    )
    writer = CountingWriter()
    svc = instances(writer, site)
    written = await svc.generate(url("https://m.news.example/a?ref=x"))
    redis: Any = svc.cache.gateway.redis
    text = (await Reader().extract(named)).text
    expected = {
        key_for(url("https://m.news.example/a?ref=x")),
        url_key("https://m.news.example/a"),  # where the redirect led: what was fetched
        article_key(text),
    }
    assert set(await redis.keys("threadr:cache:v1:*")) == {k.encode() for k in expected}
    assert set(written.keys) == expected
    # The named URL is a page of its own: fetched, and found by its text.
    again = await svc.generate(url("https://www.news.example/a"))
    assert again.thread == written.thread and writer.calls == 1 and len(site.fetches) == 2


async def test_the_same_text_under_two_urls_is_written_once(instances: Instances) -> None:
    site = Site(
        {
            "https://blog.example/p?id=7&s=1": ("https://blog.example/p?id=7&s=1", page(None)),
            "https://blog.example/p?s=1&id=7": ("https://blog.example/p?s=1&id=7", page(None)),
        }
    )
    writer = CountingWriter()
    svc = instances(writer, site)
    first = await svc.generate(url("https://blog.example/p?id=7&s=1"))
    second = await svc.generate(url("https://blog.example/p?s=1&id=7"))
    assert first.thread == second.thread and writer.calls == 1


async def test_a_page_cannot_name_another_sites_url_as_its_own(instances: Instances) -> None:
    site = Site(
        {
            "https://bank.example/a": ("https://bank.example/a", page(None)),
            "https://evil.example/a": (
                "https://evil.example/a",
                page("https://bank.example/a", OTHER_BODY),
            ),
        }
    )
    writer = CountingWriter()
    svc = instances(writer, site)
    bank = await svc.generate(url("https://bank.example/a"))
    evil = await svc.generate(url("https://evil.example/a"))
    assert evil.thread != bank.thread and writer.calls == 2


async def test_a_url_a_page_names_on_its_own_site_is_only_read(instances: Instances) -> None:
    """On a site where anyone can publish, one author's page may name another's as canonical:
    that must not put its thread on the other's URL."""
    site = Site(
        {
            "https://blog.example/@mallory/post": (
                "https://blog.example/@mallory/post",
                page("https://blog.example/@alice/post", OTHER_BODY),
            ),
            "https://blog.example/@alice/post": ("https://blog.example/@alice/post", page(None)),
        }
    )
    writer = CountingWriter()
    svc = instances(writer, site)
    mallory = await svc.generate(url("https://blog.example/@mallory/post"))
    redis: Any = svc.cache.gateway.redis
    assert await redis.exists(key_for(url("https://blog.example/@alice/post"))) == 0
    alice = await svc.generate(url("https://blog.example/@alice/post"))
    assert alice.thread != mallory.thread and writer.calls == 2


async def test_concurrent_misses_on_two_instances_make_one_generation(
    instances: Instances,
) -> None:
    gate, log = asyncio.Event(), list[str]()
    writer = GatedWriter(gate)
    a, b = instances(writer), instances(writer)
    source = validate(None, TEXT, SETTINGS)
    first = asyncio.create_task(a.generate(source, Ledger("ann", log)))
    await writer.started.wait()  # a holds the lease and is writing
    second = asyncio.create_task(b.generate(source, Ledger("bob", log)))
    await until(lambda: looks(b)() == 2)  # b looked, subscribed, looked again: it waits
    gate.set()
    async with asyncio.timeout(5):  # b's next look without a message would be 30 s away
        assert (await first).thread == (await second).thread
    assert writer.calls == 1 and log == ["reserve ann"]  # the waiter paid nothing


async def test_two_urls_of_one_article_on_two_instances_make_one_generation(
    instances: Instances,
) -> None:
    gate = asyncio.Event()
    writer = GatedWriter(gate)
    site = Site(
        {
            "https://news.example/a": ("https://news.example/a", page("/a")),
            "https://news.example/amp/a": ("https://news.example/amp/a", page("/a")),
        }
    )
    a, b = instances(writer, site), instances(writer, site)
    first = asyncio.create_task(a.generate(url("https://news.example/a")))
    await writer.started.wait()
    second = asyncio.create_task(b.generate(url("https://news.example/amp/a")))
    # b: its own URL's lease, then the article's (held by a), then once more subscribed.
    await until(lambda: looks(b)() == 3)
    gate.set()
    async with asyncio.timeout(5):
        assert (await first).thread == (await second).thread
    assert writer.calls == 1


async def test_a_waiter_takes_over_a_failed_generation_and_pays_for_it(
    instances: Instances,
) -> None:
    gate, log = asyncio.Event(), list[str]()
    failing, working = GatedWriter(gate, fail=True), CountingWriter()
    a, b = instances(failing), instances(working)
    source = validate(None, TEXT, SETTINGS)
    first = asyncio.create_task(a.generate(source, Ledger("ann", log)))
    await failing.started.wait()
    second = asyncio.create_task(b.generate(source, Ledger("bob", log)))
    await until(lambda: looks(b)() == 2)
    gate.set()
    with pytest.raises(FetchFailed):
        await first
    async with asyncio.timeout(5):
        assert (await second).thread
    assert working.calls == 1
    assert log == ["reserve ann", "refund ann", "reserve bob"]


async def test_without_redis_each_instance_works_alone(instances: Instances) -> None:
    writer = CountingWriter()
    a, b = instances(writer, redis=False), instances(writer, redis=False)
    source = validate(None, TEXT, SETTINGS)
    await asyncio.gather(a.generate(source), b.generate(source))
    assert writer.calls == 2


async def test_deleting_an_alias_deletes_the_article_so_it_is_written_anew(
    instances: Instances,
) -> None:
    site = Site(
        {
            "https://news.example/a": ("https://news.example/a", page("/a")),
            "https://news.example/amp/a": ("https://news.example/amp/a", page("/a")),
        }
    )
    writer = CountingWriter()
    svc = instances(writer, site)
    await svc.generate(url("https://news.example/amp/a"))
    assert await svc.cache.delete(key_for(url("https://news.example/amp/a")))
    redis: Any = svc.cache.gateway.redis
    assert await redis.keys("threadr:cache:v1:*") == []  # its canonical and text keys too
    await svc.generate(url("https://news.example/a"))
    assert writer.calls == 2


async def test_an_entry_of_another_layout_is_written_over(instances: Instances) -> None:
    """A deploy under way: another version's entry under the key reads as a miss, so this
    instance writes its own (without waiting for anyone)."""
    writer = CountingWriter()
    svc = instances(writer)
    source = validate(None, TEXT, SETTINGS)
    redis: Any = svc.cache.gateway.redis
    await redis.set(key_for(source), b"\x93\x02\x90\xa4text", ex=60)
    assert (await svc.generate(source)).thread and writer.calls == 1
