"""Scripts: loaded from the package, and packed for the lane exactly as redis-py packs them."""

from __future__ import annotations

import hashlib
from typing import Any

from redis.asyncio import Connection

from threadr.storage.scripts import Script, ScriptCall

LIMITER = Script("ratelimit.lua")


class Recorder:
    """Stands in for the lane: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def execute(self, packed: bytes) -> Any:
        self.sent.append(packed)
        return [1]


def test_scripts_are_package_files_named_by_their_sha1() -> None:
    assert "redis.call('TIME')" in LIMITER.source
    assert LIMITER.sha == hashlib.sha1(LIMITER.source.encode()).hexdigest()  # noqa: S324


async def test_the_lane_sends_what_redis_py_would_send() -> None:
    call = ScriptCall(LIMITER, keys=2, argc=2, tail=(b"6000000", b"10"))
    keys, args = (b"threadr:rl:{1.2.3.4}:burst", b"threadr:cache:v1:text:abc"), (b"1", b"")
    lane = Recorder()
    assert await call.run_on(lane, keys, args) == [1]  # type: ignore[arg-type]
    expected = Connection().pack_command("EVALSHA", LIMITER.sha, 2, *keys, *args, *call.tail)
    assert lane.sent == [b"".join(expected)]


def test_a_call_without_its_read_drops_the_last_key_only() -> None:
    reading = ScriptCall(LIMITER, keys=3, argc=2, tail=(b"1", b"2"), hot=True)
    alone = reading.unread
    assert (alone.keys, alone.argc, alone.tail, alone.hot) == (2, 2, (b"1", b"2"), False)
    assert reading.unread is alone  # made once
