"""The pipeline's accounting: who pays for a generation, and refunds."""

import asyncio
from typing import Any

import fakeredis
import pytest

from tests.factories import (
    MockOpenAI,
    make_gateway,
    make_settings,
    running_app,
    tweets_reply,
)
from threadr.articles.fetch import Page
from threadr.cache import ThreadCache, key_for
from threadr.errors import FetchFailed, QuotaExceeded, Unprocessable
from threadr.generate import FALLBACK_TTL_SECONDS, Pipeline
from threadr.source import validate
from threadr.writing.options import DEFAULT_OPTIONS, Options
from threadr.writing.writer import ThreadWriter

TEXT = "Only the starter pays. Joiners ride along for free, like a cache hit. " * 3


class Ledger:
    def __init__(self, name: str, log: list[str], *, broke: bool = False) -> None:
        self.name, self.log, self.broke = name, log, broke

    async def reserve(self) -> None:
        await asyncio.sleep(0)
        if self.broke:
            raise QuotaExceeded(f"{self.name} has no quota left.")
        self.log.append(f"reserve {self.name}")

    async def refund(self) -> None:
        self.log.append(f"refund {self.name}")


class GatedWriter(ThreadWriter):
    def __init__(self, gate: asyncio.Event, fail: bool = False) -> None:
        super().__init__(None, max_tweets=25)
        self.gate, self.fail, self.calls = gate, fail, 0
        self.started = asyncio.Event()

    async def write(  # type: ignore[no-untyped-def]
        self, text: str, title: str | None, options: Options = DEFAULT_OPTIONS, **kw: Any
    ):
        self.calls += 1
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise FetchFailed("The site failed.")
        return await super().write(text, title, options, **kw)


def pipeline(writer: ThreadWriter) -> Pipeline:
    settings = make_settings()
    cache = ThreadCache(make_gateway(None), ttl_seconds=60, memory_entries=10)
    return Pipeline(settings, cache=cache, writer=writer, fetcher=None, reader=None)  # type: ignore[arg-type]


async def test_only_the_starter_pays() -> None:
    gate, log = asyncio.Event(), list[str]()
    writer = GatedWriter(gate)
    svc = pipeline(writer)
    source = validate(None, TEXT, svc.settings)
    # Tasks start in the order they are created: `a` starts the generation, `b` joins it.
    first = asyncio.create_task(svc.generate(source, Ledger("a", log)))
    second = asyncio.create_task(svc.generate(source, Ledger("b", log)))
    await writer.started.wait()
    gate.set()
    assert (await first).thread == (await second).thread
    assert log == ["reserve a"] and writer.calls == 1


async def test_a_joiner_retries_on_its_own_account_when_the_starter_has_no_quota() -> None:
    gate, log = asyncio.Event(), list[str]()
    writer = GatedWriter(gate)
    svc = pipeline(writer)
    source = validate(None, TEXT, svc.settings)
    broke = asyncio.create_task(svc.generate(source, Ledger("a", log, broke=True)))
    joiner = asyncio.create_task(svc.generate(source, Ledger("b", log)))
    gate.set()
    with pytest.raises(QuotaExceeded):
        await broke
    assert (await joiner).thread
    assert log == ["reserve b"] and writer.calls == 1


async def test_a_failed_generation_is_refunded_to_its_starter() -> None:
    gate, log = asyncio.Event(), list[str]()
    svc = pipeline(GatedWriter(gate, fail=True))
    source = validate(None, TEXT, svc.settings)
    gate.set()
    with pytest.raises(FetchFailed):
        await svc.generate(source, Ledger("a", log))
    assert log == ["reserve a", "refund a"]


async def test_a_paid_model_call_is_never_refunded_when_its_reply_is_unusable() -> None:
    """Issue #10: a reply that cannot be finalised used to be a refunded 422, so a client could
    retry for free while every retry paid OpenAI. Now the offline writer answers, the request
    counts, and its thread is cached only briefly (FALLBACK_TTL_SECONDS)."""
    mock = MockOpenAI(tweets_reply("1/3", "2/3", "Sure!"))  # numbering and chatter only
    redis = fakeredis.FakeAsyncRedis()
    settings = make_settings(
        RATE_LIMIT_ENABLED="false", FREE_TIER_DAILY_LIMIT="3", FREE_TIER_MONTHLY_LIMIT="10"
    )
    texts = [f"{TEXT}Take {n}." for n in range(4)]
    async with running_app(settings, openai_client=mock.client(), redis=redis) as client:
        for text in texts[:3]:
            response = await client.post("/api/generate", json={"text": text})
            assert response.status_code == 200, response.text
            assert response.json()["generator"] == "offline"
            assert response.headers["x-cache"] == "MISS"
        usage = (await client.get("/api/usage/status")).json()
        assert usage["daily_usage"] == 3 and usage["daily_remaining"] == 0
        refused = await client.post("/api/generate", json={"text": texts[3]})
        assert refused.status_code == 402
        again = await client.post("/api/generate", json={"text": texts[0]})
        assert again.status_code == 200 and again.headers["x-cache"] == "HIT"
    assert mock.calls == 3
    for text in texts[:3]:
        ttl = await redis.ttl(key_for(validate(None, text, settings)))
        assert 0 < ttl <= FALLBACK_TTL_SECONDS
    await redis.aclose()


class RefusingReader:
    """Stands in for the extraction pool: every page is refused with `code`."""

    def __init__(self, code: str) -> None:
        self.code = code

    async def extract(self, body: bytes, **_: object) -> None:
        raise Unprocessable("The page was refused.", code=self.code)


class OnePage:
    async def fetch(self, url: str) -> Page:
        return Page(url=url, status=200, content_type="text/html", headers={}, body=b"<p>x</p>")


@pytest.mark.parametrize(
    ("code", "refunded"),
    [("no_article", True), ("page_too_slow", False), ("page_too_complex", False)],
)
async def test_a_page_that_held_a_worker_to_its_limit_is_not_refunded(
    code: str, refunded: bool
) -> None:
    """Issue #10: refunding these would let an attacker keep every worker busy for free."""
    settings = make_settings()
    cache = ThreadCache(make_gateway(None), ttl_seconds=60, memory_entries=10)
    svc = Pipeline(
        settings,
        cache=cache,
        writer=ThreadWriter(None, max_tweets=25),
        fetcher=OnePage(),
        reader=RefusingReader(code),  # type: ignore[arg-type]
    )
    log: list[str] = []
    with pytest.raises(Unprocessable):
        await svc.generate(validate("https://example.com/a", None, settings), Ledger("a", log))
    assert log == (["reserve a", "refund a"] if refunded else ["reserve a"])
