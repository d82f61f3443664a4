"""Saved threads in Redis: per account, a sorted set of thread ids by save time and one msgpack
record per thread, saved and trimmed to the account's allowance in one script (history.lua).

Ownership is in the key: every key of an account's history holds its id (`{u:<id>}`), so a
thread id read, or deleted, under another account names no key of theirs and is simply not
found. Records have no TTL: they leave with their index entry (trimmed or deleted in the same
script), never on their own. An account that stops being premium keeps its threads until its
next save trims them to the free allowance.

Without Redis nothing is stored or read: every call raises ServiceUnavailable (503)."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import msgspec

from threadr.cache import CacheEntry
from threadr.errors import ValidationFailed
from threadr.source import SourceType
from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import history_index_key, history_record_key
from threadr.storage.scripts import Script, ScriptCall
from threadr.writing.thread import Generator, Tweet

SCRIPT = Script("history.lua", needs=("bytes.lua",))
# On the lane when it has a free connection: a signed-in cache hit saves one (after answering).
_SAVE = ScriptCall(SCRIPT, keys=2, argc=5, hot=True)  # "save", id, score, record, keep
_DELETE = ScriptCall(SCRIPT, keys=2, argc=2)  # "delete", id
_PAGE = ScriptCall(SCRIPT, keys=1, argc=4)  # "page", max score, after id, count

_THREAD_ID = re.compile(r"[0-9a-f]{16}")  # 64 bits of the cache key's hash, per account
_CURSOR = re.compile(r"(\d{1,16})\.([0-9a-f]{16})")  # "<saved_at ms>.<id>", base64url-encoded
MAX_CURSOR = 64  # characters; a real one has 40


class SavedThread(msgspec.Struct, kw_only=True):
    """A saved thread as stored (msgpack, as a map: fields are found by name). Every field has
    a default, so a record written before a field was added still decodes; an incompatible
    change bumps HISTORY_PREFIX's version instead of migrating records."""

    id: str = ""
    saved_at: int = 0  # epoch ms; also the index's score
    source_type: SourceType = "text"
    url: str | None = None  # the normalised URL of a "url" thread; None for pasted text
    title: str | None = None
    generator: Generator = "offline"
    thread: list[Tweet] = msgspec.field(default_factory=list)


class Summary(msgspec.Struct, kw_only=True):
    """A saved thread as its history lists it: without the tweets, but for the first."""

    id: str
    saved_at: int
    source_type: SourceType
    url: str | None
    title: str | None
    generator: Generator
    tweet_count: int
    preview: str  # the first tweet's text ("" for an empty thread)


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(SavedThread).decode


def valid_thread_id(raw: str) -> bool:
    return _THREAD_ID.fullmatch(raw) is not None


def encode_cursor(saved_at: int, thread_id: str) -> str:
    """The opaque cursor after the entry (saved_at, thread_id): the position, not an offset,
    so threads saved or deleted between pages shift nothing."""
    return base64.urlsafe_b64encode(f"{saved_at}.{thread_id}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[int, str]:
    """The position a cursor names, or a 422 for anything this module did not make."""
    match = None
    if len(raw) <= MAX_CURSOR:
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
        except ValueError:  # not base64 (binascii.Error), not ASCII (UnicodeError)
            text = ""
        match = _CURSOR.fullmatch(text)
    if match is None:
        raise ValidationFailed(
            "The cursor is not one this API returned; start again without one.",
            code="invalid_cursor",
        )
    return int(match.group(1)), match.group(2)


def summary(record: SavedThread) -> Summary:
    return Summary(
        id=record.id,
        saved_at=record.saved_at,
        source_type=record.source_type,
        url=record.url,
        title=record.title,
        generator=record.generator,
        tweet_count=len(record.thread),
        preview=record.thread[0].content if record.thread else "",
    )


class History:
    """The saved threads of every account; an account keeps its newest `free_limit` threads,
    `premium_limit` while premium (0 keeps none). `clock` (epoch seconds) dates saves."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        free_limit: int,
        premium_limit: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateway = gateway
        self.free_limit = free_limit
        self.premium_limit = premium_limit
        self._clock = clock

    async def save(
        self,
        user_id: str,
        entry: CacheEntry,
        *,
        key: str,
        url: str | None,
        premium: bool,
        newest: tuple[str, int] | None = None,
    ) -> str | None:
        """Save a generated thread, evicting the oldest beyond the allowance: the thread's id
        (None when the allowance is 0 and nothing is kept).

        The id comes from the account and the thread's cache `key`: the same input generated
        again (a cache hit, a retry) moves its one entry to the top, with the latest thread,
        instead of filling the history with copies. When that entry is already the newest
        (`newest`, the session lookup's (id, saved_at ms): the same input asked for again)
        and was saved since `entry` was written, there is nothing to move or replace, and
        nothing is written: a signed-in cache hit's third Redis call (docs/performance.md)."""
        keep = self.premium_limit if premium else self.free_limit
        if keep <= 0:
            return None
        # Salted with the account: the same input is a different id in each account, so an
        # id says nothing of what it names to anyone who hashes a guessed URL.
        thread_id = hashlib.sha256(f"{user_id}:{key}".encode()).hexdigest()[:16]
        # Whole ms, as saved_at is rounded: a save in the entry's own millisecond counts.
        if (
            newest is not None
            and newest[0] == thread_id
            and newest[1] >= int(entry.created_at * 1000)
        ):
            return thread_id
        record = SavedThread(
            id=thread_id,
            saved_at=round(self._clock() * 1000),
            source_type=entry.source_type,
            url=url,
            title=entry.title,
            generator=entry.generator,
            thread=entry.thread,
        )
        keys = (
            history_index_key(user_id).encode(),
            history_record_key(user_id, thread_id).encode(),
        )
        args = (
            b"save",
            thread_id.encode(),
            b"%d" % record.saved_at,
            _encode(record),
            b"%d" % keep,
        )
        await self._script(_SAVE, keys, args, "history save")
        return thread_id

    async def page(
        self, user_id: str, *, cursor: str | None, limit: int
    ) -> tuple[list[Summary], str | None]:
        """Up to `limit` threads, newest first, after `cursor` (None: from the newest), and the
        cursor of the next page (None on the last). Every thread there for the whole walk is
        listed once, on one page; one saved meanwhile is newer than the cursor, so it sorts
        before it and the walk goes on without it."""
        after_score, after = (b"+inf", b"") if cursor is None else _position(cursor)
        index = history_index_key(user_id).encode()
        args = (b"page", after_score, after, b"%d" % (limit + 1))  # one more: is there a next?
        rows = await self._script(_PAGE, (index,), args, "history page")
        entries = [(rows[i].decode(), int(rows[i + 1])) for i in range(0, len(rows), 2)]
        next_cursor = None
        if len(entries) > limit:
            entries = entries[:limit]
            next_cursor = encode_cursor(entries[-1][1], entries[-1][0])
        if not entries:
            return [], next_cursor
        keys = [history_record_key(user_id, thread_id).encode() for thread_id, _ in entries]
        raws = await self.gateway.mget(keys, "history page")
        if raws is UNAVAILABLE:
            raise self.gateway.refused("Saved threads need")
        # A thread deleted between the two calls is left out; the cursor still moves past it.
        return [summary(record) for record in map(_record, raws) if record], next_cursor

    async def get(self, user_id: str, thread_id: str) -> SavedThread | None:
        """The account's thread `thread_id`; None when it has none by that id (any other
        account's id, a deleted or evicted one, or one that is malformed)."""
        if not valid_thread_id(thread_id):
            return None
        raw = await self.gateway.get(history_record_key(user_id, thread_id), "history read")
        if raw is UNAVAILABLE:
            raise self.gateway.refused("Saved threads need")
        return _record(raw)

    async def delete(self, user_id: str, thread_id: str) -> bool:
        """Delete the account's thread `thread_id`: False when it has none by that id."""
        if not valid_thread_id(thread_id):
            return False
        keys = (
            history_index_key(user_id).encode(),
            history_record_key(user_id, thread_id).encode(),
        )
        args = (b"delete", thread_id.encode())
        return bool(await self._script(_DELETE, keys, args, "history delete"))

    async def _script(
        self, call: ScriptCall, keys: tuple[bytes, ...], args: tuple[bytes, ...], what: str
    ) -> Any:
        reply = await self.gateway.script(call, keys, args, what)
        if reply is UNAVAILABLE:
            raise self.gateway.refused("Saved threads need")
        return reply


def _position(cursor: str) -> tuple[bytes, bytes]:
    saved_at, thread_id = decode_cursor(cursor)
    return b"%d" % saved_at, thread_id.encode()


def _record(raw: bytes | None) -> SavedThread | None:
    """A stored record, or None for an absent or unreadable one (listed as not there)."""
    if raw is None:
        return None
    try:
        return _decode(raw)
    except msgspec.DecodeError:
        return None
