"""The email list's store on fakeredis (Lua included): once per address, counters that follow
every add and removal, pages that miss nobody, and no pretend success without Redis."""

from __future__ import annotations

import pytest
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import BrokenRedis, Clock, make_gateway
from threadr.errors import ServiceUnavailable, ValidationFailed
from threadr.storage.keys import SUBSCRIBER_INDEX, SUBSCRIBER_RECORDS
from threadr.subscribers.store import DEFAULT_SOURCE, Subscriber, Subscribers, source_label

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def store_on(fake: FakeRedis, clock: Clock | None = None) -> Subscribers:
    return Subscribers(make_gateway(fake), clock=clock or Clock(T0))


async def every(store: Subscribers, size: int) -> list[Subscriber]:
    return [row async for page in store.pages(size) for row in page]


async def test_an_address_is_stored_once_with_its_date_and_source(fake: FakeRedis) -> None:
    store = store_on(fake)
    assert await store.add("ann@example.com", "footer") is True
    assert await store.add("ann@example.com", "popup") is False  # the first record stays
    assert await every(store, 10) == [
        Subscriber("ann@example.com", "2023-11-14T22:13:20.000+00:00", "footer")
    ]
    assert await fake.hlen(SUBSCRIBER_RECORDS) == 1
    stats = await store.stats()
    assert (stats.total_subscriptions, stats.last_7_days, stats.by_source) == (1, 1, {"footer": 1})


async def test_removal_fixes_the_index_and_the_counters(fake: FakeRedis) -> None:
    store = store_on(fake)
    for email, source in [("a@x.com", "footer"), ("b@x.com", "footer"), ("c@x.com", "blog")]:
        await store.add(email, source)
    assert await store.remove("c@x.com") is True
    assert await store.remove("c@x.com") is False
    assert await store.remove("nobody@x.com") is False
    stats = await store.stats()
    assert (stats.total_subscriptions, stats.by_source) == (2, {"footer": 2})  # blog dropped
    assert await fake.zcard(SUBSCRIBER_INDEX) == 2
    assert [r.email for r in await every(store, 10)] == ["a@x.com", "b@x.com"]
    assert await store.add("c@x.com", "popup") is True  # forgotten, so it can come back


async def test_last_7_days_counts_from_the_index(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock)
    await store.add("old@x.com", "web")
    clock.advance(8 * 86_400)
    await store.add("new@x.com", "web")
    clock.advance(86_400)
    stats = await store.stats()
    assert (stats.total_subscriptions, stats.last_7_days) == (2, 1)


async def test_pages_miss_nobody_even_when_subscribed_in_the_same_millisecond(
    fake: FakeRedis,
) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock)
    emails = [f"user{i:02}@x.com" for i in range(7)]
    for email in reversed(emails):  # one millisecond for all: the address breaks the tie
        await store.add(email, "web")
    clock.advance(1)
    await store.add("later@x.com", "web")
    pages = [[r.email for r in page] async for page in store.pages(3)]
    assert pages == [emails[:3], emails[3:6], [emails[6], "later@x.com"]]


async def test_pages_stay_right_when_the_list_changes_between_them(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock)
    for i in range(6):
        await store.add(f"u{i}@x.com", "web")
        clock.advance(0.001 * (i % 2))  # pairs share a millisecond
    seen: list[str] = []
    async for page in store.pages(2):
        seen += [r.email for r in page]
        if len(seen) == 2:
            await store.remove("u0@x.com")  # sent already
            await store.remove("u3@x.com")  # not yet: must not appear
    assert seen == ["u0@x.com", "u1@x.com", "u2@x.com", "u4@x.com", "u5@x.com"]


async def test_an_empty_list_exports_nothing(fake: FakeRedis) -> None:
    assert await every(store_on(fake), 10) == []
    stats = await store_on(fake).stats()
    assert (stats.total_subscriptions, stats.last_7_days, stats.by_source) == (0, 0, {})


async def test_without_a_configured_redis_it_says_so_and_stores_nothing() -> None:
    store = Subscribers(make_gateway(None))
    with pytest.raises(ServiceUnavailable) as refused:
        await store.add("ann@example.com", "web")
    assert refused.value.code == "storage_not_configured"
    assert "REDIS_URL is not set" in refused.value.detail
    assert "Retry-After" not in refused.value.headers  # retrying cannot help


async def test_with_redis_unreachable_every_call_is_a_503_with_retry_after() -> None:
    store = Subscribers(make_gateway(BrokenRedis()))
    calls = [
        store.add("ann@example.com", "web"),
        store.remove("ann@example.com"),
        store.stats(),
        anext(store.pages()),
    ]
    for call in calls:
        with pytest.raises(ServiceUnavailable) as refused:
            await call
        assert (refused.value.status, refused.value.code) == (503, "storage_unavailable")
        assert refused.value.headers["Retry-After"] == "1"  # the watch probes 4 times a second


@pytest.mark.parametrize(
    ("raw", "label"),
    [(None, DEFAULT_SOURCE), ("Footer", "footer"), (" blog-post_2 ", "blog-post_2")],
)
def test_a_source_is_a_short_label(raw: str | None, label: str) -> None:
    assert source_label(raw) == label


@pytest.mark.parametrize("raw", ["", " ", "a" * 33, "two words", "<script>", "-x", "é"])
def test_a_source_that_is_not_a_label_is_a_422(raw: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        source_label(raw)
    assert refused.value.code == "invalid_source"
