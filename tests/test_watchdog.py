"""The watchdog itself: it must see a stall, or the hostile-input tests prove nothing."""

import time

import pytest

from .watchdog import MAX_BLOCK, Watchdog


async def test_a_blocking_call_is_seen() -> None:
    dog = Watchdog()
    dog.start()
    await dog.tick()  # the watcher is running
    burn_until = time.perf_counter() + MAX_BLOCK * 1.5
    while time.perf_counter() < burn_until:  # CPU work that never yields: a quadratic regex
        pass
    await dog.stop()
    with pytest.raises(AssertionError, match="blocked for"):
        dog.check()


async def test_awaiting_is_not_a_stall() -> None:
    dog = Watchdog()
    dog.start()
    for _ in range(20):  # a test that keeps yielding, for 20 of the watcher's ticks
        await dog.tick()
    await dog.stop()
    dog.check()
