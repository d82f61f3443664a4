"""The pipeline's accounting: who pays for a generation, and refunds."""

import asyncio

import pytest

from tests.factories import make_gateway, make_settings
from threadr.cache import ThreadCache
from threadr.errors import FetchFailed, QuotaExceeded
from threadr.generate import Pipeline
from threadr.source import validate
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

    async def write(self, text: str, title: str | None):  # type: ignore[no-untyped-def]
        self.calls += 1
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise FetchFailed("The site failed.")
        return await super().write(text, title)


def pipeline(writer: ThreadWriter) -> Pipeline:
    settings = make_settings()
    cache = ThreadCache(make_gateway(None), ttl_seconds=60, memory_entries=10)
    return Pipeline(settings, cache=cache, writer=writer, fetcher=None)  # type: ignore[arg-type]


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
