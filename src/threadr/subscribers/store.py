"""The email list in Redis: one record per address, added once atomically, with the index and
counters every admin read uses (subscribers.lua); never in memory, never SCAN.

Without Redis nothing is stored and nothing is pretended: every call raises ServiceUnavailable
(503), with Retry-After when a configured Redis is unreachable, without it when none is
configured (retrying cannot help; the operator must set REDIS_URL). An address kept in one
process's memory would be lost at the next deploy, after its owner was told it was kept."""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec

from threadr.errors import ServiceUnavailable, ValidationFailed
from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import SUBSCRIBER_INDEX, SUBSCRIBER_RECORDS, SUBSCRIBER_SOURCES
from threadr.storage.scripts import Script, ScriptCall

SCRIPT = Script("subscribers.lua", needs=("bytes.lua",))
_ADD = ScriptCall(SCRIPT, keys=3, argc=5)  # "add", address, record, score, source
_REMOVE = ScriptCall(SCRIPT, keys=3, argc=2)  # "remove", address
_STATS = ScriptCall(SCRIPT, keys=3, argc=2)  # "stats", since (ms)
_PAGE = ScriptCall(SCRIPT, keys=3, argc=4)  # "page", after score, after address, count
_KEYS = (SUBSCRIBER_RECORDS.encode(), SUBSCRIBER_INDEX.encode(), SUBSCRIBER_SOURCES.encode())

DEFAULT_SOURCE = "website"  # a subscription that names no source
PAGE_SIZE = 500  # addresses per export page: one short script call, never a long block
RECENT_DAYS = 7  # the window of `last_7_days`
# A source is a short label (a form, a campaign); free text would let clients grow the
# counters' hash without bound.
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


class Subscription(msgspec.Struct):
    """An address's record in Redis (new fields get defaults: records outlive deploys)."""

    subscribed_at: str  # ISO 8601, UTC, to the millisecond
    source: str = DEFAULT_SOURCE


class Subscriber(NamedTuple):
    """One row of the export."""

    email: str
    subscribed_at: str
    source: str


class EmailStats(msgspec.Struct):
    """The body of GET /api/emails/stats."""

    total_subscriptions: int
    last_7_days: int
    by_source: dict[str, int]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Subscription).decode


def source_label(raw: str | None) -> str:
    """The counted form of a subscription's `source` (trimmed, lower-case), or a 422."""
    if raw is None:
        return DEFAULT_SOURCE
    label = raw.strip().lower()
    if not _SOURCE.fullmatch(label):
        raise ValidationFailed(
            "The source must be a short label: 1 to 32 letters, digits, '.', '_' or '-'.",
            code="invalid_source",
        )
    return label


class Subscribers:
    """The email list; `clock` (seconds since the epoch) dates new subscriptions."""

    def __init__(self, gateway: Gateway, *, clock: Callable[[], float] = time.time) -> None:
        self.gateway = gateway
        self._clock = clock

    async def add(self, email: str, source: str) -> bool:
        """Store `email` (normalised already) unless it is there: True when it was new."""
        now = self._clock()
        record = _encode(Subscription(_iso(now), source))
        args = (b"add", email.encode(), record, _ms(now), source.encode())
        return bool(await self._run(_ADD, args, "subscribe"))

    async def remove(self, email: str) -> bool:
        """Remove `email` with its index entry and count: True when it was there."""
        return bool(await self._run(_REMOVE, (b"remove", email.encode()), "unsubscribe"))

    async def stats(self) -> EmailStats:
        """Counts from the index and the counters (O(log n), whatever the list's size)."""
        since = _ms(self._clock() - RECENT_DAYS * 86_400)
        reply = await self._run(_STATS, (b"stats", since), "subscriber stats")
        pairs = reply[2:]
        by_source = {pairs[i].decode(): int(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return EmailStats(int(reply[0]), int(reply[1]), by_source)

    async def pages(self, size: int = PAGE_SIZE) -> AsyncIterator[list[Subscriber]]:
        """Every subscriber, oldest first, `size` at a time, one script call a page; an address
        added or removed meanwhile may or may not appear, every other appears once."""
        after_score, after = b"-1", b""
        while True:
            args = (b"page", after_score, after, str(size).encode())
            reply = await self._run(_PAGE, args, "subscriber export")
            rows = []
            for i in range(0, len(reply), 3):
                address, after_score, raw = reply[i : i + 3]
                after = address
                record = _decode(raw)
                rows.append(Subscriber(address.decode(), record.subscribed_at, record.source))
            if rows:
                yield rows
            if len(rows) < size:
                return

    async def _run(self, call: ScriptCall, args: tuple[bytes, ...], what: str) -> Any:
        reply = await self.gateway.script(call, _KEYS, args, what)
        if reply is UNAVAILABLE:
            raise self._unavailable()
        return reply

    def _unavailable(self) -> ServiceUnavailable:
        return self.gateway.refused("Email subscriptions need")


def _ms(seconds: float) -> bytes:
    return str(math.floor(seconds * 1000)).encode()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
