"""Deadlines for every Redis call with one timer for all of them.

`asyncio.timeout` arms and disarms a loop timer per call: 7.6 µs of a cache hit's 60 µs of CPU
in process (bench/callcount.py, with and without it). Here a call costs a dict entry; one timer,
armed only while calls are in flight, wakes every `tick` seconds and cancels the calls past
their deadline, which they see as TimeoutError, as with `asyncio.timeout`. A deadline is thus
kept to within one tick late — plenty for a 2-second bound meant to turn a hung Redis into a
fallback instead of a hang.

Cancellation is handled the way `asyncio.timeout` handles it (Python 3.11+): the cancel this
module sends is taken back with `Task.uncancel`, and a cancel from anyone else (a client gone,
a shutdown) passes through as CancelledError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class Deadlines:
    """`await deadlines.run(call)`: `call`'s result, or TimeoutError after `timeout` seconds."""

    def __init__(self, timeout: float, *, tick: float | None = None) -> None:
        self.timeout = timeout
        self.tick = tick if tick is not None else timeout / 8
        self._due: dict[asyncio.Task[Any], float] = {}  # calls in flight → their deadline
        self._expired: set[asyncio.Task[Any]] = set()  # cancelled by us, not yet resumed
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, call: Awaitable[T]) -> T:
        task = asyncio.current_task()
        if task is None or task in self._due:  # not in a task, or a call within a call
            async with asyncio.timeout(self.timeout):
                return await call
        loop = task.get_loop()
        self._due[task] = loop.time() + self.timeout
        if self._timer is None or self._loop is not loop:
            if self._loop is not loop:  # a new loop (tests): forget calls of a closed one
                self._due = {t: d for t, d in self._due.items() if t.get_loop() is loop}
                self._expired.clear()
                self._loop = loop
            self._timer = loop.call_later(self.tick, self._check)
        cancelling = task.cancelling()
        try:
            return await call
        except asyncio.CancelledError:
            # Ours (and nobody else's as well): a timeout. Otherwise the cancel goes on.
            if task in self._expired and task.uncancel() <= cancelling:
                raise TimeoutError(f"no answer within {self.timeout:g} s") from None
            raise
        finally:
            self._due.pop(task, None)
            self._expired.discard(task)

    def nearly_out(self) -> bool:
        """Whether the current call has less than one tick left: so little that the next check
        may well cut it off, however quick the answer (a call that waited for a slot)."""
        task = asyncio.current_task()
        if task is None:
            return False
        due = self._due.get(task)
        return due is not None and due - task.get_loop().time() < self.tick

    def stalled(self, age: float) -> bool:
        """Whether some call has been in flight for `age` seconds or more (the watch then asks
        Redis whether it is hung, rather than wait for the call's whole deadline)."""
        loop = self._loop
        if loop is None or not self._due:
            return False
        return min(self._due.values()) - self.timeout + age <= loop.time()

    def expire_all(self) -> None:
        """Cut off every call in flight now, as its deadline would (they see TimeoutError): the
        circuit has opened, and they would only wait on a Redis known to be away."""
        loop = self._loop
        if loop is None or not self._due:
            return
        current = asyncio.current_task(loop)  # the caller, if it is a call, finishes its own way
        for task in self._due:
            if task is not current and task not in self._expired and task.get_loop() is loop:
                self._expired.add(task)
                task.cancel()

    def _check(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for task, due in self._due.items():
            if due <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()  # delivered at the task's `await call`: it is suspended there
        self._timer = loop.call_later(self.tick, self._check) if self._due else None
