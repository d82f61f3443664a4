"""The saved-threads store on fakeredis (Lua included): records round-trip, the allowance trims
index and records together, pages miss and repeat nothing while threads come and go, another
account's id is simply not found, and without Redis every call is a 503, never a pretence."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import cast

import pytest
from fakeredis import FakeAsyncRedis as FakeRedis

from tests.factories import BrokenRedis, Clock, make_gateway
from threadr.cache import CacheEntry
from threadr.errors import ServiceUnavailable, ValidationFailed
from threadr.history.store import (
    History,
    SavedThread,
    Summary,
    decode_cursor,
    encode_cursor,
    valid_thread_id,
)
from threadr.storage.keys import HISTORY_PREFIX, history_index_key, history_record_key
from threadr.writing.thread import Tweet

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
ANN, BOB = "a" * 24, "b" * 24


def entry(text: str = "Caching is remembering answers.", title: str | None = None) -> CacheEntry:
    tweets = [Tweet(1, 2, f"1/2 {text}", 4 + len(text)), Tweet(2, 2, "2/2 That's it.", 14)]
    return CacheEntry.new(tweets, "text", title, "offline", T0 - 3600)


def store_on(
    fake: FakeRedis, clock: Clock | None = None, *, free: int = 3, premium: int = 5
) -> History:
    return History(
        make_gateway(fake), free_limit=free, premium_limit=premium, clock=clock or Clock(T0)
    )


async def save_many(store: History, clock: Clock, n: int, *, premium: bool = False) -> list[str]:
    """Save `n` threads a millisecond apart; their ids, oldest first."""
    ids = []
    for i in range(n):
        clock.advance(0.001)
        saved = await store.save(
            ANN, entry(f"thread {i}"), key=f"k{clock.t}", url=None, premium=premium
        )
        assert saved is not None
        ids.append(saved)
    return ids


async def walk(store: History, user_id: str, limit: int) -> list[list[str]]:
    """Every page's ids, following the cursors to the end."""
    pages, cursor = [], None
    while True:
        found, cursor = await store.page(user_id, cursor=cursor, limit=limit)
        pages.append([s.id for s in found])
        if cursor is None:
            return pages


async def history_keys(fake: FakeRedis) -> set[bytes]:
    return set(cast("list[bytes]", await fake.keys(HISTORY_PREFIX + "*")))


async def test_a_saved_thread_reads_back_as_generated(fake: FakeRedis) -> None:
    store = store_on(fake)
    generated = entry("Caches expire entries.", title="On caching")
    url = "https://example.com/caching"
    thread_id = await store.save(ANN, generated, key="k", url=url, premium=False)
    assert thread_id is not None and valid_thread_id(thread_id)
    assert await store.get(ANN, thread_id) == SavedThread(
        id=thread_id,
        saved_at=1_700_000_000_000,
        source_type="text",
        url=url,
        title="On caching",
        generator="offline",
        thread=generated.thread,
    )
    found, cursor = await store.page(ANN, cursor=None, limit=20)
    assert cursor is None
    assert found == [
        Summary(
            id=thread_id,
            saved_at=1_700_000_000_000,
            source_type="text",
            url=url,
            title="On caching",
            generator="offline",
            tweet_count=2,
            preview="1/2 Caches expire entries.",
        )
    ]
    # No TTL: a record leaves with its index entry, never on its own.
    assert await fake.ttl(history_record_key(ANN, thread_id)) == -1
    assert await fake.ttl(history_index_key(ANN)) == -1


async def test_the_free_allowance_keeps_the_newest_and_deletes_the_rest(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock, free=3)
    ids = await save_many(store, clock, 5)
    assert await walk(store, ANN, 20) == [ids[:1:-1]]  # the newest 3, newest first
    assert await fake.zrange(history_index_key(ANN), 0, -1) == [i.encode() for i in ids[2:]]
    # The evicted records went with their index entries, in the same script: nothing is left.
    assert await history_keys(fake) == {
        history_index_key(ANN).encode(),
        *(history_record_key(ANN, i).encode() for i in ids[2:]),
    }
    for gone in ids[:2]:
        assert await store.get(ANN, gone) is None


async def test_premium_keeps_more_and_a_free_save_trims_back(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock, free=3, premium=5)
    ids = await save_many(store, clock, 7, premium=True)
    assert await walk(store, ANN, 20) == [ids[:1:-1]]  # 5 of 7
    # Premium over: the next save keeps the free allowance, the newest 3 with itself.
    (last,) = await save_many(store, clock, 1, premium=False)
    assert await walk(store, ANN, 20) == [[last, ids[6], ids[5]]]
    assert len(await history_keys(fake)) == 1 + 3


async def test_an_allowance_of_zero_keeps_nothing(fake: FakeRedis) -> None:
    store = store_on(fake, free=0, premium=5)
    assert await store.save(ANN, entry(), key="k", url=None, premium=False) is None
    assert await history_keys(fake) == set()
    assert await store.save(ANN, entry(), key="k", url=None, premium=True) is not None


async def test_pages_list_every_thread_once_while_new_ones_are_saved(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock, free=100)
    ids = await save_many(store, clock, 7)
    seen: list[str] = []
    found, cursor = await store.page(ANN, cursor=None, limit=3)
    seen += [s.id for s in found]
    while cursor is not None:
        newer = await save_many(store, clock, 2)  # saved between two pages
        found, cursor = await store.page(ANN, cursor=cursor, limit=3)
        seen += [s.id for s in found]
        assert not set(newer) & set(seen)  # newer than the cursor: not part of this walk
    assert seen == ids[::-1]  # all 7, newest first: no duplicate, no gap
    assert (await store.page(ANN, cursor=None, limit=1))[0][0].id == newer[-1]


async def test_pages_split_threads_saved_in_the_same_millisecond(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock, free=100)
    same = [
        str(await store.save(ANN, entry(str(i)), key=f"k{i}", url=None, premium=False))
        for i in range(7)
    ]
    clock.advance(1)
    (later,) = await save_many(store, clock, 1)
    pages = await walk(store, ANN, 3)
    # Ties sort by id, descending, so the order is total and the cursor can stand between them.
    assert [i for page in pages for i in page] == [later, *sorted(same, reverse=True)]
    assert [len(page) for page in pages] == [3, 3, 2]


async def test_deleting_the_cursors_thread_between_pages_skips_nothing(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock, free=100)
    ids = await save_many(store, clock, 6)
    found, cursor = await store.page(ANN, cursor=None, limit=2)
    assert [s.id for s in found] == [ids[5], ids[4]]
    assert await store.delete(ANN, ids[4])  # the thread the cursor stands on
    assert await store.delete(ANN, ids[3])  # and the next one
    found, cursor = await store.page(ANN, cursor=cursor, limit=2)
    assert [s.id for s in found] == [ids[2], ids[1]]
    found, cursor = await store.page(ANN, cursor=cursor, limit=2)
    assert ([s.id for s in found], cursor) == ([ids[0]], None)


async def test_a_full_last_page_says_there_is_no_next(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock, free=100)
    ids = await save_many(store, clock, 4)
    assert await walk(store, ANN, 2) == [[ids[3], ids[2]], [ids[1], ids[0]]]
    assert await store.page(BOB, cursor=None, limit=20) == ([], None)


async def test_delete_removes_the_record_and_its_index_entry(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock)
    kept, gone = await save_many(store, clock, 2)
    assert await store.delete(ANN, gone) is True
    assert await store.delete(ANN, gone) is False
    assert await store.get(ANN, gone) is None
    assert await walk(store, ANN, 20) == [[kept]]
    assert await history_keys(fake) == {
        history_index_key(ANN).encode(),
        history_record_key(ANN, kept).encode(),
    }


async def test_another_accounts_id_is_not_found_and_left_alone(fake: FakeRedis) -> None:
    clock = Clock(T0)
    store = store_on(fake, clock)
    (thread_id,) = await save_many(store, clock, 1)
    assert await store.get(BOB, thread_id) is None
    assert await store.delete(BOB, thread_id) is False
    assert await store.page(BOB, cursor=None, limit=20) == ([], None)
    assert (await store.get(ANN, thread_id)) is not None  # untouched
    # Bob's walk cannot start from Ann's cursor into her threads either: it reads his index.
    await save_many(store, clock, 2)
    _, cursor = await store.page(ANN, cursor=None, limit=1)
    assert cursor is not None
    assert await store.page(BOB, cursor=cursor, limit=20) == ([], None)


@pytest.mark.parametrize(
    "thread_id", ["", "0123", "0123456789ABCDEF", "0123456789abcdeg", "../../x", "0" * 17]
)
async def test_malformed_ids_are_not_found_without_asking_redis(thread_id: str) -> None:
    broken = BrokenRedis()
    store = History(make_gateway(broken), free_limit=3, premium_limit=5)
    assert await store.get(ANN, thread_id) is None
    assert await store.delete(ANN, thread_id) is False
    assert broken.calls == 0


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_names_a_position_and_reads_back() -> None:
    cursor = encode_cursor(1_700_000_000_123, "0123456789abcdef")
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor) == (1_700_000_000_123, "0123456789abcdef")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "é",
        b64(b"1700000000000"),  # no id
        b64(b"1700000000000.0123456789ABCDEF"),  # not our id's form
        b64(b"-1.0123456789abcdef"),
        b64(b"1e12.0123456789abcdef"),
        b64(b"\xff\xfe.0123456789abcdef"),
        "A" * 65,  # longer than any cursor made here
    ],
)
def test_a_cursor_not_made_here_is_a_422(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor)
    assert caught.value.code == "invalid_cursor"


async def test_without_redis_every_call_is_a_503_with_retry_after() -> None:
    broken = BrokenRedis()
    store = History(make_gateway(broken), free_limit=3, premium_limit=5)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.save(ANN, entry(), key="k", url=None, premium=False),
        lambda: store.page(ANN, cursor=None, limit=20),
        lambda: store.get(ANN, "0123456789abcdef"),
        lambda: store.delete(ANN, "0123456789abcdef"),
    ]
    for call in calls:
        with pytest.raises(ServiceUnavailable) as caught:
            await call()
        assert caught.value.code == "storage_unavailable"
        assert int(caught.value.headers["Retry-After"]) >= 1
        assert "unreachable" in caught.value.detail
    # The first found Redis gone and opened the circuit; the others were refused without
    # waiting on it, and none answered from memory.
    assert broken.calls == 1


async def test_with_no_redis_configured_the_503_says_so() -> None:
    store = History(make_gateway(None), free_limit=3, premium_limit=5)
    with pytest.raises(ServiceUnavailable) as caught:
        await store.save(ANN, entry(), key="k", url=None, premium=False)
    assert caught.value.code == "storage_not_configured"
    assert "Retry-After" not in caught.value.headers
    assert caught.value.detail.startswith("Saved threads need a database")


async def test_the_newest_thread_saved_again_is_left_as_it_is(fake: FakeRedis) -> None:
    """The same input asked for again (a cache hit of the entry already saved): nothing to
    move or replace, so nothing is written. Anything else is saved as ever."""
    clock = Clock(T0)
    store = store_on(fake, clock)
    generated = entry()
    thread_id = await store.save(ANN, generated, key="k", url=None, premium=False)
    assert thread_id is not None
    newest = (thread_id, round(T0 * 1000))
    clock.advance(60)
    assert await store.save(ANN, generated, key="k", url=None, premium=False, newest=newest)
    assert (await store.get(ANN, thread_id)).saved_at == round(T0 * 1000)  # type: ignore[union-attr]
    # An entry written after that save (the cache expired, the thread was written anew): saved.
    rewritten = CacheEntry.new(generated.thread, "text", None, "offline", T0 + 30)
    await store.save(ANN, rewritten, key="k", url=None, premium=False, newest=newest)
    assert (await store.get(ANN, thread_id)).saved_at == round((T0 + 60) * 1000)  # type: ignore[union-attr]
    # Another thread was the newest: this one moves back to the top.
    clock.advance(60)
    await store.save(ANN, generated, key="k", url=None, premium=False, newest=("0" * 16, 0))
    assert (await store.get(ANN, thread_id)).saved_at == round((T0 + 120) * 1000)  # type: ignore[union-attr]
