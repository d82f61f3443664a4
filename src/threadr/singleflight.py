"""Run one task per key at a time: concurrent identical cache misses share one generation,
and hear what it tells along the way (Relay)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Sink = Callable[[T], Awaitable[None] | None]

log = logging.getLogger(__name__)


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """Await `work()` for `key`, joining a run already in flight.

        The shared task is shielded: a caller that disconnects (and is cancelled) leaves the
        work running for the others and for the cache write at its end.
        """
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._tasks[key] = task
            task.add_done_callback(lambda t: self._forget(key, t))
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Task[T]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: a failure nobody awaited is not "never retrieved"

    def running(self, key: str) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)


class Relay(Generic[T]):
    """What a shared task tells along the way (the tweets of a generation), passed on to every
    caller waiting on it; one that comes late first hears what was told before. A sink must be
    quick (put on a queue): the task awaits it. One that raises is dropped, and the task goes on.
    """

    def __init__(self) -> None:
        self._told: dict[str, list[T]] = {}
        self._sinks: dict[str, list[Sink[T]]] = {}
        self._callers: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def listen(self, key: str, sink: Sink[T] | None) -> AsyncIterator[None]:
        """Within the block, `sink` (None: the caller is only counted) hears what the task of
        `key` tells. What was told is forgotten once the last caller of `key` leaves."""
        self._callers[key] = self._callers.get(key, 0) + 1
        try:
            if sink is not None:
                heard = 0
                while heard < len(told := self._told.get(key, [])):
                    await _call(sink, told[heard])
                    heard += 1
                # Caught up, and nothing awaited since: from here on it hears what comes.
                self._sinks.setdefault(key, []).append(sink)
            yield
        finally:
            self._drop(key, sink)
            self._callers[key] -= 1
            if not self._callers[key]:
                del self._callers[key]
                self._told.pop(key, None)

    def teller(self, key: str) -> Callable[[T], Awaitable[None]]:
        """What the task of `key` calls with each item; it starts a new telling."""
        told: list[T] = []
        self._told[key] = told

        async def tell(item: T) -> None:
            told.append(item)
            for sink in list(self._sinks.get(key, ())):
                try:
                    await _call(sink, item)
                except Exception:
                    log.exception("A listener of a generation failed; it hears no more")
                    self._drop(key, sink)

        return tell

    def _drop(self, key: str, sink: Sink[T] | None) -> None:
        sinks = self._sinks.get(key, [])
        if sink in sinks:
            sinks.remove(sink)
        if not sinks:
            self._sinks.pop(key, None)


async def _call(sink: Sink[T], item: T) -> None:
    result = sink(item)
    if inspect.isawaitable(result):
        await result
