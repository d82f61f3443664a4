"""The event-loop watchdog: a test of hostile input fails if the loop was blocked too long.

A task wakes every 5 ms and records how late it woke; a late wake-up means something ran on
the loop without yielding for that long (a quadratic regex, a parse, a blocking call). Code
that is called synchronously from an async test blocks the loop just the same, so the
watchdog catches it as well.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator

import pytest

# The bar: no hostile input may hold the loop for more than 100 ms at a time.
MAX_BLOCK = 0.100
_TICK = 0.005


class Watchdog:
    """The longest stall seen so far (the test reads `worst` or calls `check`)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None
        self._measured = asyncio.Event()  # set after each wake-up has been measured

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(_TICK)  # the probe itself: how late this wakes is the stall
            self.worst = max(self.worst, time.perf_counter() - before - _TICK)
            self._measured.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def tick(self) -> None:
        """Wait for the watcher's next measured wake-up."""
        self._measured.clear()
        await self._measured.wait()

    async def stop(self) -> None:
        await self.tick()  # a stall that just ended is recorded by the next wake-up
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def check(self, limit: float = MAX_BLOCK) -> None:
        assert self.worst < limit, f"the event loop was blocked for {self.worst * 1000:.0f} ms"


@pytest.fixture
async def watchdog() -> AsyncIterator[Watchdog]:
    """Fails the test if its event loop was blocked for more than 100 ms at any one time."""
    # A full collection of what earlier tests left can pause for tens of milliseconds; it is
    # theirs, not this test's, so it happens before the watch starts.
    gc.collect()
    dog = Watchdog()
    dog.start()
    await asyncio.sleep(0)
    yield dog
    await dog.stop()
    dog.check()
