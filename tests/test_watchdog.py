"""The watchdog itself: it must see a stall, or the hostile-input tests prove nothing."""

import asyncio
import time

import pytest

from .watchdog import MAX_BLOCK, Watchdog


async def test_a_blocking_call_is_seen() -> None:
    dog = Watchdog()
    dog.start()
    await asyncio.sleep(0.01)
    time.sleep(MAX_BLOCK * 1.5)  # noqa: ASYNC251 - the stall a quadratic regex causes
    await dog.stop()
    with pytest.raises(AssertionError, match="blocked for"):
        dog.check()


async def test_awaiting_is_not_a_stall() -> None:
    dog = Watchdog()
    dog.start()
    await asyncio.sleep(0.2)
    await dog.stop()
    dog.check()
