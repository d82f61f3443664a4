"""The pipeline's accounting: who pays for a generation, refunds, and truncation."""

import asyncio

import pytest

from threadr.cache import ThreadCache
from threadr.errors import FetchFailed, QuotaExceeded
from threadr.generate import ThreadService, truncate_text, validate
from threadr.models import GenerateRequest
from threadr.writer import ThreadWriter

from .conftest import make_settings

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

    async def write(self, text: str, title: str | None):  # type: ignore[no-untyped-def]
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise FetchFailed("The site failed.")
        return await super().write(text, title)


def service(writer: ThreadWriter) -> ThreadService:
    settings = make_settings()
    cache = ThreadCache(None, ttl_seconds=60, memory_entries=10)
    return ThreadService(settings, cache=cache, writer=writer, fetcher=None)  # type: ignore[arg-type]


async def test_only_the_starter_pays() -> None:
    gate, log = asyncio.Event(), []
    svc = service(GatedWriter(gate))
    source = validate(GenerateRequest(text=TEXT), svc.settings)
    first = asyncio.create_task(svc.generate(source, Ledger("a", log)))
    await asyncio.sleep(0)
    second = asyncio.create_task(svc.generate(source, Ledger("b", log)))
    await asyncio.sleep(0)
    gate.set()
    assert (await first).thread == (await second).thread
    assert log == ["reserve a"]


async def test_a_joiner_retries_on_its_own_account_when_the_starter_has_no_quota() -> None:
    gate, log = asyncio.Event(), []
    writer = GatedWriter(gate)
    svc = service(writer)
    source = validate(GenerateRequest(text=TEXT), svc.settings)
    broke = asyncio.create_task(svc.generate(source, Ledger("a", log, broke=True)))
    joiner = asyncio.create_task(svc.generate(source, Ledger("b", log)))
    gate.set()
    with pytest.raises(QuotaExceeded):
        await broke
    assert (await joiner).thread
    assert log == ["reserve b"] and writer.calls == 1


async def test_a_failed_generation_is_refunded_to_its_starter() -> None:
    gate, log = asyncio.Event(), []
    svc = service(GatedWriter(gate, fail=True))
    source = validate(GenerateRequest(text=TEXT), svc.settings)
    gate.set()
    with pytest.raises(FetchFailed):
        await svc.generate(source, Ledger("a", log))
    assert log == ["reserve a", "refund a"]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short.", 100, "Short."),
        ("One. Two three four. Five six seven eight nine.", 30, "One. Two three four."),
        ("word " * 20, 23, "word word word word"),
        ("x" * 50, 10, "x" * 10),
    ],
)
def test_truncation_prefers_sentence_ends(text: str, limit: int, expected: str) -> None:
    assert truncate_text(text, limit) == expected
    assert len(truncate_text(text, limit)) <= limit
